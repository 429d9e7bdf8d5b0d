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
  // Photo search (www/worker-search.js), each on an `indexId`:
  /** `{ modelId, model: { name, sha256 }, root, template }` -> `{ indexId, info }`. */
  INDEX_CREATE: 'indexCreate',
  /** `{ modelId, bytes, name, expectSha256 }` -> `{ indexId, info }`: an index file read back, checked. */
  INDEX_OPEN: 'indexOpen',
  /** -> `{ entries: [{ path, size, modified }], folders }`. */
  INDEX_ENTRIES: 'indexEntries',
  /** `{ modelId, files: [{ path, size, modified, image }] }` -> `{ added, failed: [{ path, reason }], info }`. */
  INDEX_ADD: 'indexAdd',
  /** `{ paths, sizes, modified }` (a folder's listing) -> `{ embed: [position], kept, dropped: [path] }`. */
  INDEX_CHANGES: 'indexChanges',
  /** `{ paths }` -> `{ removed, info }`. */
  INDEX_REMOVE: 'indexRemove',
  /** `{ modelId, text?, image?, like?, top, folder }` -> `{ results: [{ path, score }], timings }`. */
  INDEX_SEARCH: 'indexSearch',
  /** `{ threshold }` -> `{ groups: [[path, ...]], ms }`. */
  INDEX_DUPLICATES: 'indexDuplicates',
  /** -> the index file's bytes. */
  INDEX_BYTES: 'indexBytes',
  INDEX_DISPOSE: 'indexDispose',
  FORGET_CACHED: 'forgetCached',
});
