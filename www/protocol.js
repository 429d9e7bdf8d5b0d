// What www/webclip.js (the page side) and www/worker.js say to each other over
// postMessage. One request per call, matched by id:
//   in:  { id, op, ...args }            op: one of OP below
//   out: { id, progress } while a call runs (loads, label passes), then
//        { id, result } or { id, error } (the error's message).

export const OP = Object.freeze({
  /** Streams a model in: `{ source, kernels, weights }` -> the model's description and `modelId`. */
  LOAD: 'load',
  /** Stops the load sent as request `loadId`. */
  CANCEL: 'cancel',
  /** Frees a model: `{ modelId }`. */
  DISPOSE: 'dispose',
  CLASSIFY: 'classify',
  /** Per-label heatmaps: `{ labels, templates, resolution, overlayPx }` -> `Model.heatmap`'s object. */
  HEATMAP: 'heatmap',
  SCORE_EMBEDDING: 'scoreEmbedding',
  EMBED_IMAGE: 'embedImage',
  EMBED_IMAGES: 'embedImages',
  EMBED_TEXT: 'embedText',
  /** `[width, height]` of encoded picture bytes from their header, after the checks decoding makes first. */
  CHECK_IMAGE: 'checkImage',
  /** The pixels a picture decodes to, and which decoder gave them. */
  PIXELS: 'pixels',
  BENCH_KERNELS: 'benchKernels',
  /** `{ gpuBuffers, gpuBytes, wasmBytes, models }`. */
  MEMORY: 'memory',
  /** Starts the WebGPU buffer census (tests and benchmarks): sent first, before any engine exists. */
  COUNT_GPU_BUFFERS: 'countGpuBuffers',
  SIMULATE_DEVICE_LOSS: 'simulateDeviceLoss',
  /** Traps in wasm, as a panic or an out-of-memory would: tests of the worker's restart. */
  SIMULATE_CRASH: 'simulateCrash',
  CACHED_MODELS: 'cachedModels',
  FORGET_CACHED: 'forgetCached',
});
