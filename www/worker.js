// The webclip worker: owns the engine (the WebGPU device and its compiled
// kernels, or the CPU engine) and every loaded model, so decoding, tokenizing and GPU waits never touch the page's
// main thread. Spoken to only by www/webclip.js, in the messages of
// www/protocol.js. This file holds the protocol's dispatch, the queue and the
// handling of a lost device; model sources are www/sources.js (over
// www/readers.js), pictures www/images.js, search indexes www/worker-search.js.

import { init, memoryBytes } from './wasm.js';
import * as store from './model-store.js';
import { census, countGpuBuffers } from './gpu-census.js';
import { decodeEncoded, imageBatcher, toImage, withImage } from './images.js';
import { OP } from './protocol.js';
import { modelSource } from './sources.js';
import { searchOps } from './worker-search.js';

/** Whether the WebGPU buffer census runs in this worker (op COUNT_GPU_BUFFERS, tests and benchmarks). */
let counting = false;

/**
 * The models this worker holds, by id: `{ model, engine, spec }`. `model` is
 * undefined after the device was lost; the next call loads it again from
 * `spec` (what `load` was given) on a new device.
 */
const models = new Map();
let nextModelId = 1;

// One engine per engine and kernel family asked for ('auto': WebGPU on a
// hardware adapter, else the CPU; the adapter's family), usually one per
// worker: opening the device and compiling the kernels starts with the first
// load and overlaps its download.
const engines = new Map();
/** WebGPU devices lost so far: after two, 'auto' runs on the CPU. */
let devicesLost = 0;
async function getEngine(kernels, engine) {
  await dropLostEngines();
  let choice = engine ?? 'auto';
  let reason;
  if (choice === 'auto' && devicesLost >= 2) {
    choice = 'cpu';
    reason = `the GPU device was lost ${devicesLost} times`;
  }
  const key = `${choice} ${kernels ?? 'auto'}`;
  if (!engines.has(key)) {
    const engine = (async () => {
      const { Engine } = await init();
      return Engine.create(kernels, choice, reason);
    })();
    // A failed device request may succeed on the next load.
    engine.catch(() => engines.delete(key));
    engines.set(key, engine);
  }
  return engines.get(key);
}

// Engine calls run one at a time, in arrival order (the engine would also
// keep interleaved calls apart, but a queue keeps answers in request order and
// memory use to one pass at a time).
let queue = Promise.resolve();
function serial(task) {
  const run = queue.then(task);
  queue = run.catch(() => {});
  return run;
}

// Model files an earlier worker left half-written are removed as it starts (the
// store's other calls wait for that).
store.sweepOnce();

/** Loads in progress, by request id: their AbortControllers (op CANCEL). */
const loading = new Map();

const ops = {
  // Streams the weights: the engine reads the header, checks every tensor,
  // then asks for one tensor's bytes at a time (HTTP Range requests, or
  // File.slice for picked and cached files), so the whole file is never in
  // wasm memory. A Hub model is also written to the cache as it loads.
  async [OP.LOAD]({ source, kernels, weights, engine }, progress, requestId) {
    const controller = new AbortController();
    loading.set(requestId, controller);
    try {
      const spec = { source, kernels, weights, engine };
      const { eng, model, origin } = await open(spec, progress, controller.signal).catch(async (e) => {
        throw await explainLoss(e);
      });
      // Cancelled while it finished: the page drops the reply, so nothing could ever dispose it.
      if (controller.signal.aborted) {
        model.free();
        throw controller.signal.reason;
      }
      const id = nextModelId++;
      models.set(id, { model, engine: eng, spec });
      return {
        modelId: id,
        engine: { name: eng.engine, description: eng.description },
        adapter: eng.adapter && { ...eng.adapter, ...(await adapterInfo()) },
        kernels: eng.family,
        weights: model.weights,
        gpuBytes: model.gpuBytes,
        // Linear memory only grows: its size after loading is the load's peak.
        wasmBytes: memoryBytes(),
        timings: model.timings,
        projectionDim: model.projectionDim,
        imageSize: model.imageSize,
        maxHeatmapResolution: model.maxHeatmapResolution,
        family: model.family,
        scoring: model.scoring,
        origin,
      };
    } finally {
      loading.delete(requestId);
    }
  },

  /** Live GPU buffers and their bytes (see `gpuMemory`), wasm memory, models held. */
  // Queued: the calls (and disposals) sent before it have finished.
  [OP.MEMORY]() {
    return serial(async () => ({ ...(await gpuMemory()), wasmBytes: memoryBytes(), models: models.size }));
  },

  // Sent by the page before anything else, so no buffer is made before it counts.
  [OP.COUNT_GPU_BUFFERS]() {
    countGpuBuffers();
    counting = true;
  },

  /**
   * Destroys every engine's device, as a driver reset would (not queued: a
   * call running now fails). Tests use it to check recovery from device loss.
   */
  async [OP.SIMULATE_DEVICE_LOSS]() {
    for (const engine of engines.values()) (await engine.catch(() => undefined))?.destroyDevice();
  },

  /** Traps in wasm now (not queued: a call running now is cut short with the worker). */
  async [OP.SIMULATE_CRASH]() {
    (await init()).trapForTests();
  },

  /** Stops the load sent as request `loadId` (its promise rejects; nothing is cached). */
  [OP.CANCEL]({ loadId }) {
    loading.get(loadId)?.abort(new Error('loading was cancelled'));
  },

  /** The models kept for the next visit, then the files still being written (`cachedModels()` in webclip.js). */
  async [OP.CACHED_MODELS]() {
    return cachedModels();
  },

  /** Forgets one cached model (by key), or all of them. */
  async [OP.FORGET_CACHED]({ key }) {
    if (key === undefined) await store.clear();
    else await store.remove(key);
    return cachedModels();
  },

  // Decoded in its turn in the queue: a dozen callers at once never hold a dozen
  // decoded pictures (up to 537 MB of RGB each) in wasm memory.
  [OP.CLASSIFY]({ modelId, image, labels, templates }, progress) {
    return onModel(modelId, (model) =>
      withImage(image, async (picture) => ({ ...(await model.classify(picture, labels, templates, labelPasses(progress))), timings: model.timings })),
    );
  },

  // Decoded in its turn in the queue, as CLASSIFY; its prompts come from the same cache.
  [OP.HEATMAP]({ modelId, image, labels, templates, resolution, overlayPx }) {
    return onModel(modelId, (model) =>
      withImage(image, async (picture) => ({ ...(await model.heatmap(picture, labels, templates, resolution, overlayPx)), timings: model.timings })),
    );
  },

  // Labels scored against an image embedded earlier: no image pass.
  [OP.SCORE_EMBEDDING]({ modelId, embedding, labels, templates }, progress) {
    return onModel(modelId, async (model) => ({ ...(await model.scoreEmbedding(embedding, labels, templates, labelPasses(progress))), timings: model.timings }));
  },

  // Images that wait for the engine together (several widgets, one model) go
  // through the vision tower as one batch.
  // At most MAX_PICTURES_IN_FLIGHT are decoded and waiting at once (a batch's worth).
  async [OP.EMBED_IMAGE]({ modelId, image }) {
    const release = await pictureSlots.acquire();
    try {
      return await joinImageBatch(modelId, await toImage(image));
    } finally {
      release();
    }
  },

  // The pictures move into the engine (wasm-bindgen takes them by value),
  // which frees them; those that never get there are freed here.
  // Decoded in its turn in the queue, as CLASSIFY.
  async [OP.EMBED_IMAGES]({ modelId, images }) {
    return onModel(modelId, async (model) => {
      const pictures = [];
      let moved = false;
      try {
        for (const image of images) pictures.push(await toImage(image));
        moved = true;
        return { embeddings: await model.embedImages(pictures), timings: model.timings };
      } finally {
        if (!moved) pictures.forEach((p) => p.free());
      }
    });
  },

  // A picture's size from its header, after decoding's first checks (checkImage).
  // Not queued: a header, read in microseconds, while a pass may run.
  async [OP.CHECK_IMAGE]({ bytes, name }) {
    const { Image } = await init();
    return Array.from(Image.headerSize(new Uint8Array(bytes), name));
  },

  // The pixels a picture decodes to, and which decoder gave them (tests).
  async [OP.PIXELS]({ image, decoder }) {
    const bytes = new Uint8Array(image.bytes);
    const { picture, decoder: used } = await decodeEncoded(bytes, image.name, decoder);
    try {
      return { width: picture.width, height: picture.height, rgb: picture.rgb, decoder: used };
    } finally {
      picture.free();
    }
  },

  // GFLOP/s of the kernels on this adapter (www/bench.html).
  async [OP.BENCH_KERNELS]({ kernels, samples, only, weights }) {
    const eng = await getEngine(kernels, 'webgpu');
    const timings = JSON.parse(await serial(() => eng.benchKernels(samples, only ?? '', weights)));
    return { kernels: eng.family, adapter: eng.adapter && { ...eng.adapter, ...(await adapterInfo()) }, timings };
  },

  [OP.EMBED_TEXT]({ modelId, texts }) {
    return onModel(modelId, async (model) => ({ embeddings: await model.embedTexts(texts), timings: model.timings }));
  },

  // Queued like the rest, so calls already waiting for this model finish first.
  [OP.DISPOSE]({ modelId }) {
    return serial(() => {
      models.get(modelId)?.model?.free();
      models.delete(modelId);
    });
  },
};

// Photo search's indexes and their ops.
Object.assign(ops, searchOps(onModel));

/** The engine's callback after each text pass, reported as `{ stage: 'labels', done, total }`. */
const labelPasses = (progress) => (done, total) => progress({ stage: 'labels', done, total });

/** Pictures decoded for EMBED_IMAGE and not yet through their pass: a batch's worth. */
const MAX_PICTURES_IN_FLIGHT = 8;
const pictureSlots = slots(MAX_PICTURES_IN_FLIGHT);

/** A counting semaphore: `acquire()` resolves to a `release` once one of `n` slots is free. */
function slots(n) {
  let free = n;
  const waiting = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next(release);
    else free++;
  };
  return {
    acquire: () => (free > 0 ? (free--, Promise.resolve(release)) : new Promise((resolve) => waiting.push(resolve))),
  };
}

/**
 * `{ embedding, timings }` of a picture, computed in one pass with every other
 * picture of the same model that arrives before that pass starts (its turn in
 * the queue). `timings.batchedImages` says how many shared it.
 */
const joinImageBatch = imageBatcher((modelId, take) =>
  serial(async () => {
    const pictures = take();
    let model;
    try {
      model = await usableModel(modelId);
    } catch (e) {
      pictures.forEach((p) => p.free());
      throw e;
    }
    // The pictures move into the engine, which frees them.
    const embeddings = await model.embedImages(pictures).catch(async (e) => {
      throw await explainLoss(e);
    });
    return { embeddings, timings: { ...model.timings, batchedImages: pictures.length } };
  }),
);

/**
 * Runs `use(model)` in the queue. The model is looked up there, not before,
 * since a dispose queued earlier may have freed it; the timings are read
 * there too, before the next call changes them.
 */
function onModel(modelId, use) {
  return serial(async () => {
    const model = await usableModel(modelId);
    try {
      return await use(model);
    } catch (e) {
      throw await explainLoss(e);
    }
  });
}

/**
 * The model's engine Model, loaded again first if the device it was on was
 * lost. Runs in the queue.
 */
async function usableModel(modelId) {
  const entry = models.get(modelId);
  if (!entry) throw new Error('this model was disposed');
  await dropLostEngines(); // lost while idle: nothing failed yet
  if (!entry.model) {
    const { eng, model } = await open(entry.spec, () => {}, new AbortController().signal, { queued: true });
    Object.assign(entry, { model, engine: eng });
  }
  return entry.model;
}

/**
 * `error`, or, when it came from a lost device, an error saying so. Every
 * engine whose device is lost is dropped (the next load makes a new one) and
 * its models marked for loading again on their next call.
 */
async function explainLoss(error) {
  // The browser reports the loss in a promise of its own: let it land.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const why = await dropLostEngines();
  return why ? new Error(`the GPU device was lost (${why}); the next call loads the model again`) : error;
}

/** Drops engines whose device is lost (see `explainLoss`); why the first was lost, if one was. */
async function dropLostEngines() {
  let why;
  for (const [key, promise] of engines) {
    const eng = await promise.catch(() => undefined);
    if (!eng?.lost) continue;
    why ??= eng.lost;
    devicesLost++;
    engines.delete(key);
    for (const entry of models.values()) {
      if (entry.engine !== eng) continue;
      entry.model?.free();
      entry.model = undefined;
    }
  }
  return why;
}

/**
 * Streams a model in (see `load`): `{ eng, model, origin }`. `queued`: the
 * caller already runs in the queue (loading again after a device loss).
 */
async function open({ source, kernels, weights, engine }, progress, signal, { queued = false } = {}) {
  const from = await modelSource(source, { weights, progress, signal });
  let eng, model;
  // Whatever fails from here on (the small files, the device, the weights), the cache keeps nothing.
  try {
    const texts = from.texts ?? (await from.readTexts?.());
    eng = await getEngine(kernels, engine);
    // The engine's load options: each may be undefined (a model file holds its texts and format).
    const options = { config: texts?.config, tokenizer: texts?.tokenizer, preprocessor: texts?.preprocessor, weights: from.weights, record: from.cache?.sink };
    const loadModel = () => {
      signal.throwIfAborted();
      return eng.loadModel(from.reader, options);
    };
    model = await (queued ? loadModel() : serial(loadModel));
  } catch (e) {
    await from.cache?.abort();
    throw signal.aborted ? signal.reason : e;
  } finally {
    from.reader.done?.();
  }
  const origin = { ...from.origin };
  if (from.cache) {
    try {
      origin.cachedBytes = (await from.cache.commit()).bytes;
    } catch (e) {
      origin.cacheError = e.message;
    }
  }
  return { eng, model, origin };
}

/** The cache's complete entries, then the files still being written (they take space too). */
async function cachedModels() {
  return [...(await store.list()), ...(await store.partials())];
}

/**
 * `{ vendor, architecture }` from the browser (wgpu does not pass them on),
 * for the default adapter, which is the one the engine gets.
 */
async function adapterInfo() {
  const info = (await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' }))?.info;
  return info ? { vendor: info.vendor, architecture: info.architecture } : {};
}

/**
 * `{ gpuBuffers, gpuBytes }`: the GPU buffers every engine holds, by the
 * engines' own count; with the census on, also `census: { buffers, bytes }`,
 * WebGPU's (tests check that both stay flat). Runs in the queue.
 */
async function gpuMemory() {
  const counted = counting ? { census: { buffers: census.buffers, bytes: census.bytes } } : {};
  let gpuBuffers = 0;
  let gpuBytes = 0;
  for (const promise of engines.values()) {
    const eng = await promise.catch(() => undefined);
    const held = eng?.gpuMemory; // undefined on the CPU engine
    if (!held) continue;
    gpuBuffers += held.buffers;
    gpuBytes += held.bytes;
  }
  return { gpuBuffers, gpuBytes, ...counted };
}

self.onmessage = async ({ data: { id, op, ...args } }) => {
  const progress = (p) => self.postMessage({ id, progress: p });
  try {
    const result = await ops[op](args, progress, id);
    self.postMessage({ id, result });
  } catch (e) {
    // wasm-bindgen's JsError arrives as an Error; a panic, a trap or running out of
    // wasm memory as a RuntimeError (or a RangeError for memory).
    const crashed = e instanceof WebAssembly.RuntimeError || (e instanceof RangeError && /memory/i.test(e.message));
    const message = e instanceof Error ? e.message : String(e);
    self.postMessage({ id, error: crashed ? `the engine crashed (${message}); it restarts, and each model loads again on its next call` : message, crashed });
    // After a trap the wasm instance's state is undefined: the page's client
    // ends this worker and starts a fresh one (`crashed`).
  }
};
