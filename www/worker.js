// The webclip worker: owns the WebGPU device, the compiled kernels and every
// loaded model, so decoding, tokenizing and GPU waits never touch the page's
// main thread. Spoken to only by www/webclip.js:
//   in:  { id, op, ...args }
//   out: { id, progress } while loading, then { id, result } or { id, error }.

import init, { Engine, Image } from './pkg/webclip.js';
import { HUB, NetworkError, convertedFileName, hubStatusMessage, pickFiles, repoInfo, resolveUrl } from './hub.js';
import * as store from './model-store.js';
import { census, countGpuBuffers } from './gpu-census.js';
import { browserDecode, browserJpegIsExact } from './jpeg-check.js';

countGpuBuffers();
let wasmMemory;

/**
 * The models this worker holds, by id: `{ model, engine, spec }`. `model` is
 * undefined after the device was lost; the next call loads it again from
 * `spec` (what `load` was given) on a new device.
 */
const models = new Map();
let nextModelId = 1;

// One engine per kernel family asked for ('auto': the adapter's), usually one
// per worker: opening the device and compiling the kernels starts with the
// first load and overlaps its download.
const engines = new Map();
async function getEngine(kernels) {
  await dropLostEngines();
  const key = kernels ?? 'auto';
  if (!engines.has(key)) {
    const engine = (async () => {
      if (!navigator.gpu) throw new Error('WebGPU is not available in this browser (navigator.gpu is missing)');
      wasmMemory = (await init()).memory;
      return Engine.create(kernels);
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

/** Loads in progress, by request id: their AbortControllers (op `cancel`). */
const loading = new Map();

const ops = {
  // Streams the weights: the engine reads the header, checks every tensor,
  // then asks for one tensor's bytes at a time (HTTP Range requests, or
  // File.slice for picked and cached files), so the whole file is never in
  // wasm memory. A Hub model is also written to the cache as it loads.
  async load({ source, kernels, weights }, progress, requestId) {
    const controller = new AbortController();
    loading.set(requestId, controller);
    try {
      const spec = { source, kernels, weights };
      const { eng, model, origin } = await open(spec, progress, controller.signal).catch(async (e) => {
        throw await explainLoss(e);
      });
      const id = nextModelId++;
      models.set(id, { model, engine: eng, spec });
      return {
        modelId: id,
        adapter: { ...eng.adapter, ...(await adapterInfo()) },
        kernels: eng.family,
        weights: model.weights,
        gpuBytes: model.gpuBytes,
        // Linear memory only grows: its size after loading is the load's peak.
        wasmBytes: wasmMemoryBytes(),
        timings: model.timings,
        projectionDim: model.projectionDim,
        imageSize: model.imageSize,
        origin,
      };
    } finally {
      loading.delete(requestId);
    }
  },

  /** Live GPU buffers and bytes (counted from WebGPU itself), wasm memory, models held. */
  // Queued: the calls (and disposals) sent before it have finished.
  memory() {
    return serial(() => ({ gpuBuffers: census.buffers, gpuBytes: census.bytes, wasmBytes: wasmMemoryBytes(), models: models.size }));
  },

  /**
   * Destroys every engine's device, as a driver reset would (not queued: a
   * call running now fails). Tests use it to check recovery from device loss.
   */
  async simulateDeviceLoss() {
    for (const engine of engines.values()) (await engine.catch(() => undefined))?.destroyDevice();
  },

  /** Stops the load sent as request `loadId` (its promise rejects; nothing is cached). */
  cancel({ loadId }) {
    loading.get(loadId)?.abort(new Error('loading was cancelled'));
  },

  /** The models kept for the next visit: `[{ key, id, revision, commit, weights, bytes, savedAt }]`. */
  cachedModels() {
    return store.list();
  },

  /** Forgets one cached model (by key), or all of them. */
  async forgetCached({ key }) {
    if (key === undefined) await store.clear();
    else await store.remove(key);
    return store.list();
  },

  classify({ modelId, image, labels, templates }, progress) {
    return withImage(image, (picture) =>
      onModel(modelId, async (model) => ({ ...(await model.classify(picture, labels, templates, labelPasses(progress))), timings: model.timings })),
    );
  },

  // Labels scored against an image embedded earlier: no image pass.
  scoreEmbedding({ modelId, embedding, labels, templates }, progress) {
    return onModel(modelId, async (model) => ({ ...(await model.scoreEmbedding(embedding, labels, templates, labelPasses(progress))), timings: model.timings }));
  },

  // Images that wait for the engine together (several widgets, one model) go
  // through the vision tower as one batch.
  async embedImage({ modelId, image }) {
    return joinImageBatch(modelId, await toImage(image));
  },

  // The pictures move into the engine (wasm-bindgen takes them by value),
  // which frees them; those that never get there are freed here.
  async embedImages({ modelId, images }) {
    const pictures = [];
    let moved = false;
    try {
      for (const image of images) pictures.push(await toImage(image));
      return await onModel(modelId, async (model) => {
        moved = true;
        return { embeddings: await model.embedImages(pictures), timings: model.timings };
      });
    } finally {
      if (!moved) pictures.forEach((p) => p.free());
    }
  },

  // The pixels a picture decodes to, and which decoder gave them (tests).
  async pixels({ image, decoder }) {
    const bytes = new Uint8Array(image.bytes);
    await init(); // the wasm module, without a GPU device
    const { picture, decoder: used } = await decodeEncoded(bytes, image.name, decoder);
    try {
      return { width: picture.width, height: picture.height, rgb: picture.rgb, decoder: used };
    } finally {
      picture.free();
    }
  },

  // GFLOP/s of the kernels on this adapter (www/bench.html).
  async benchKernels({ kernels, samples, only, weights }) {
    const eng = await getEngine(kernels);
    const timings = JSON.parse(await serial(() => eng.benchKernels(samples, only ?? '', weights)));
    return { kernels: eng.family, adapter: { ...eng.adapter, ...(await adapterInfo()) }, timings };
  },

  embedText({ modelId, texts }) {
    return onModel(modelId, async (model) => ({ embeddings: await model.embedTexts(texts), timings: model.timings }));
  },

  // Queued like the rest, so calls already waiting for this model finish first.
  dispose({ modelId }) {
    return serial(() => {
      models.get(modelId)?.model?.free();
      models.delete(modelId);
    });
  },
};

/** The engine's callback after each text pass, reported as `{ stage: 'labels', done, total }`. */
const labelPasses = (progress) => (done, total) => progress({ stage: 'labels', done, total });

/** Pictures waiting for their model's next image pass, by model id. */
const imageBatches = new Map();

/**
 * `{ embedding, timings }` of `picture`, computed in one pass with every other
 * picture of the same model that arrives before that pass starts (its turn in
 * the queue). `timings.batchedImages` says how many shared it.
 */
function joinImageBatch(modelId, picture) {
  let batch = imageBatches.get(modelId);
  if (!batch) {
    batch = { pictures: [], waiters: [] };
    imageBatches.set(modelId, batch);
    const pass = serial(async () => {
      imageBatches.delete(modelId); // later pictures start the next batch
      let model;
      try {
        model = await usableModel(modelId);
      } catch (e) {
        batch.pictures.forEach((p) => p.free());
        throw e;
      }
      // The pictures move into the engine, which frees them.
      const embeddings = await model.embedImages(batch.pictures).catch(async (e) => {
        throw await explainLoss(e);
      });
      return { embeddings, timings: { ...model.timings, batchedImages: batch.pictures.length } };
    });
    pass.then(
      ({ embeddings, timings }) => batch.waiters.forEach((w, i) => w.resolve({ embedding: embeddings[i], timings })),
      (e) => batch.waiters.forEach((w) => w.reject(e)),
    );
  }
  batch.pictures.push(picture);
  return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
}

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
async function open({ source, kernels, weights }, progress, signal, { queued = false } = {}) {
  const from = source.hub ? await hubSource(source.hub, weights, progress, signal) : localSource(source, weights, progress, signal);
  let eng, model;
  // Whatever fails from here on (the small files, the device, the weights), the cache keeps nothing.
  try {
    const texts = from.texts ?? (await from.readTexts?.());
    eng = await getEngine(kernels);
    const loadModel = () => {
      signal.throwIfAborted();
      return eng.loadModel(from.reader, texts?.config, texts?.tokenizer, texts?.preprocessor, from.weights, from.cache?.sink);
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

/**
 * `{ vendor, architecture }` from the browser (wgpu does not pass them on),
 * for the default adapter, which is the one the engine gets.
 */
async function adapterInfo() {
  const info = (await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }))?.info;
  return info ? { vendor: info.vendor, architecture: info.architecture } : {};
}

/** Runs `use` on the picture as an engine Image, then frees its wasm memory. */
async function withImage(image, use) {
  const picture = await toImage(image);
  try {
    return await use(picture);
  } finally {
    picture.free();
  }
}

/**
 * The picture as the engine's Image. Encoded bytes are decoded as Pillow
 * does (see `decodeEncoded`); bitmaps are read back as RGBA.
 */
async function toImage(image) {
  switch (image.kind) {
    case 'encoded':
      return (await decodeEncoded(new Uint8Array(image.bytes), image.name)).picture;
    case 'rgba':
      return Image.fromRgba(image.width, image.height, new Uint8Array(image.data), image.name);
    case 'bitmap': {
      const { bitmap, name } = image;
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      let pixels;
      try {
        pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
      } catch (e) {
        throw new Error(`image ${name}: its pixels cannot be read (${e.message}); a cross-origin image needs CORS`);
      }
      return Image.fromRgba(pixels.width, pixels.height, new Uint8Array(pixels.data.buffer), name);
    }
    default:
      throw new Error(`unknown image kind ${image.kind}`);
  }
}

/**
 * `{ picture, decoder }`: JPEG through the browser's decoder when it is
 * proven Pillow-exact here (www/jpeg-check.js), after the Rust header checks
 * (a decompression bomb is refused before any decoder runs); everything else,
 * or with `decoder` 'webclip', through the Rust decoder.
 */
async function decodeEncoded(bytes, name, decoder = 'auto') {
  if (decoder !== 'webclip' && Image.jpegSize(bytes, name) && (await browserJpegIsExact())) {
    let pixels;
    try {
      pixels = await browserDecode(bytes);
    } catch (e) {
      throw new Error(`image ${name}: could not decode Jpeg (${e.message})`);
    }
    return { picture: Image.fromRgba(pixels.width, pixels.height, pixels.rgba, name), decoder: 'browser' };
  }
  return { picture: Image.decode(bytes, name), decoder: 'webclip' };
}

/**
 * Where a URL's or picked files' model is: `{ reader, readTexts?, weights, origin }`.
 * A directory's three small files are read before its weights are streamed.
 */
function localSource(source, weights, progress, signal) {
  const origin = { kind: source.file || source.files ? 'files' : 'url', fromCache: false };
  if (source.fileUrl) return { reader: rangeReader(new URL(source.fileUrl), progress, signal), weights, origin };
  if (source.file) return { reader: fileReader(source.file, progress, signal), weights, origin };
  const reader = source.url
    ? rangeReader(new URL('model.safetensors', source.url), progress, signal)
    : fileReader(source.files.find((f) => f.name === 'model.safetensors'), progress, signal);
  const read = source.url
    ? (name) => fetchBytes(new URL(name, source.url), { signal })
    : (name) => source.files.find((f) => f.name === name).arrayBuffer().then((b) => new Uint8Array(b));
  return { reader, readTexts: () => readTexts(read, progress), weights, origin };
}

/**
 * A Hub model (`hub.js`): from the cache when it holds this id's commit in
 * this weight format (or, offline, any commit of the revision); else from a
 * mirror of converted files, the repo's converted file, or its checkpoint
 * quantized while loading, recorded into the cache as it loads.
 */
async function hubSource({ id, revision, hub = HUB, mirror }, weights = 'q8', progress, signal) {
  const query = { hub, id, revision, weights };
  const fromCache = ({ entry, file }, offline) => ({
    reader: fileReader(file, progress, signal, { fromCache: true }),
    weights: entry.weights,
    origin: { kind: 'hub', id, revision, commit: entry.commit, fromCache: true, offline, bytes: file.size },
  });
  let info;
  try {
    info = await repoInfo(hub, { id, revision }, signal);
  } catch (e) {
    const cached = e instanceof NetworkError ? await store.latest(query).catch(() => undefined) : undefined;
    if (!cached) throw e;
    return fromCache(cached, true);
  }
  const entry = { ...query, commit: info.commit };
  const cached = await store.open(entry).catch(() => undefined);
  if (cached) return fromCache(cached, false);

  const origin = { kind: 'hub', id, revision, commit: info.commit, fromCache: false };
  const http = { signal, describe: (what, response) => hubStatusMessage(what, response) };
  let cache;
  try {
    cache = await store.begin(entry);
  } catch (e) {
    origin.cacheError = e.message;
  }
  try {
    if (mirror) {
      const reader = rangeReader(new URL(`${id}/${convertedFileName(weights)}`, mirror), progress, signal);
      // The first read fetches the header's block; a mirror without this model answers 404.
      const found = await reader.read(0, 8).then(() => true, (e) => (e.status === 404 ? false : Promise.reject(e)));
      if (found) return { reader, weights, cache, origin: { ...origin, file: reader.url } };
    }
    const pick = pickFiles({ id, files: info.files }, weights);
    const base = resolveUrl(hub, id, info.commit, '');
    if (pick.converted) {
      const reader = rangeReader(new URL(pick.converted, base), progress, signal, http);
      return { reader, weights, cache, origin: { ...origin, file: reader.url } };
    }
    const texts = await readTexts((name) => fetchBytes(new URL(name, base), http), progress);
    const reader = rangeReader(new URL(pick.checkpoint, base), progress, signal, http);
    return { reader, texts, weights, cache, origin: { ...origin, file: reader.url, quantizedHere: true } };
  } catch (e) {
    await cache?.abort();
    throw e;
  }
}

/** A directory's three small files (the weights are streamed separately). */
async function readTexts(read, progress) {
  const names = ['config.json', 'tokenizer.json', 'preprocessor_config.json'];
  const [config, tokenizer, preprocessor] = await Promise.all(names.map(read));
  progress({ loaded: 0, file: 'model.safetensors' });
  const text = new TextDecoder();
  return { config: text.decode(config), tokenizer, preprocessor: text.decode(preprocessor) };
}

/** An HTTP failure; `status` tells a missing file (404) from the rest. */
class HttpError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/**
 * The body of `url` (or, with `init.headers`, the Response). `describe(what,
 * response)` words HTTP failures (the Hub's own wording); a dropped
 * connection and an aborted load are told apart.
 */
async function fetchBytes(url, { signal, headers, describe } = {}) {
  let response;
  try {
    response = await fetch(url, { signal, headers });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`${url}: could not be fetched (${e.message}); check the network connection${url.origin !== location.origin ? ' (or the server does not allow cross-origin reads: CORS)' : ''}`);
  }
  if (!response.ok) {
    const message = describe ? describe(String(url), response) : `${url}: HTTP ${response.status} ${response.statusText}`.trim();
    throw new HttpError(message, response.status);
  }
  return headers ? response : bodyBytes(url, response, signal);
}

async function bodyBytes(url, response, signal) {
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`${url}: the download broke off (${e.message})`);
  }
}

/**
 * Bytes read so far, reported a few times a second (one report per read would
 * flood the page), with the mean rate since the reader was made, in bytes per second.
 */
function progressCounter(file, progress, extra = {}) {
  let loaded = 0;
  let lastReport = 0;
  const started = performance.now();
  return {
    add(n, total, force = false) {
      loaded += n;
      const now = performance.now();
      if (force || now - lastReport > 100) {
        lastReport = now;
        progress({ loaded, total, file, rate: loaded / Math.max((now - started) / 1000, 1e-3), ...extra });
      }
    },
  };
}

/** The engine's source for a File (picked, or a cached model): slices, read on demand. */
function fileReader(file, progress, signal, extra) {
  const counter = progressCounter(file.name, progress, extra);
  return {
    name: file.name,
    length: file.size,
    async read(offset, length) {
      signal?.throwIfAborted();
      const bytes = new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
      counter.add(bytes.length, file.size, offset + length >= file.size);
      return bytes;
    },
  };
}

// Bytes fetched per Range request at least, so that neighbouring small tensors
// (biases, norms) share one request. Kept small: an encoder layer is read in one
// request of its exact span anyway (the engine's Weights::prefetch), and bytes
// past a read's end are often not the next ones read (measured on ViT-B/32 q8:
// 8 MB chunks asked 1.46x the file's bytes; 1 MB chunks, reading in the
// file's order and reusing a kept block's tail: 1.01x).
const CHUNK = 1 << 20;

/**
 * The engine's source for a URL: HTTP Range requests of at least CHUNK bytes,
 * the last one kept to serve the reads that follow. `length` comes from the
 * first response's Content-Range. A server that ignores Range (a 200 with the
 * whole body) is read once into memory and served from there.
 */
function rangeReader(url, progress, signal, http = { signal }) {
  const name = decodeURIComponent(url.pathname.split('/').pop());
  const counter = progressCounter(name, progress);
  let block = { start: 0, bytes: new Uint8Array(0) };
  const reader = {
    // How errors name the file: its path on this site, or its whole URL elsewhere.
    name: url.origin === self.location.origin ? decodeURIComponent(url.pathname) : String(url),
    url: String(url),
    length: undefined,
    async read(offset, length) {
      const end = offset + length;
      if (offset >= block.start && end <= block.start + block.bytes.length) {
        return block.bytes.slice(offset - block.start, end - block.start);
      }
      // A read that starts inside the kept block takes its tail and fetches only what follows.
      const blockEnd = block.start + block.bytes.length;
      const kept = offset >= block.start && offset < blockEnd ? block.bytes.subarray(offset - block.start) : new Uint8Array(0);
      const from = offset + kept.length;
      const last = Math.min(Math.max(end, offset + CHUNK), reader.length ?? Infinity) - 1;
      const response = await fetchBytes(url, { ...http, signal, headers: { Range: `bytes=${from}-${last}` } });
      const bytes = await bodyBytes(url, response, signal);
      if (response.status === 206) {
        const total = /\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
        if (total) reader.length = Number(total[1]);
        const joined = new Uint8Array(kept.length + bytes.length);
        joined.set(kept);
        joined.set(bytes, kept.length);
        block = { start: offset, bytes: joined };
      } else {
        // The whole file came: keep it all.
        reader.length = bytes.length;
        block = { start: 0, bytes };
      }
      counter.add(bytes.length, reader.length, end >= reader.length);
      if (end > block.start + block.bytes.length) {
        throw new Error(`${url}: ended at ${block.start + block.bytes.length} bytes, ${end} needed (truncated download?)`);
      }
      return block.bytes.slice(offset - block.start, end - block.start);
    },
    done() {
      block = { start: 0, bytes: new Uint8Array(0) };
    },
  };
  return reader;
}

/** Bytes of this worker's wasm linear memory. */
function wasmMemoryBytes() {
  return wasmMemory?.buffer.byteLength;
}

self.onmessage = async ({ data: { id, op, ...args } }) => {
  const progress = (p) => self.postMessage({ id, progress: p });
  try {
    const result = await ops[op](args, progress, id);
    self.postMessage({ id, result });
  } catch (e) {
    // wasm-bindgen's JsError arrives as an Error; a panic as a RuntimeError.
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
    // After a trap the wasm instance's state is undefined: end this worker (its
    // error event makes the page's client fail over to a fresh one).
    if (e instanceof WebAssembly.RuntimeError) setTimeout(() => { throw e; });
  }
};
