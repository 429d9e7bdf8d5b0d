// The webclip worker: owns the WebGPU device, the compiled kernels and every
// loaded model, so decoding, tokenizing and GPU waits never touch the page's
// main thread. Spoken to only by www/webclip.js:
//   in:  { id, op, ...args }
//   out: { id, progress } while loading, then { id, result } or { id, error }.

import init, { Engine, Image } from './pkg/webclip.js';

/** The models this worker holds, by id. */
const models = new Map();
let nextModelId = 1;

// One engine per kernel family asked for ('auto': the adapter's), usually one
// per worker: opening the device and compiling the kernels starts with the
// first load and overlaps its download.
const engines = new Map();
function getEngine(kernels) {
  const key = kernels ?? 'auto';
  if (!engines.has(key)) {
    const engine = (async () => {
      if (!navigator.gpu) throw new Error('WebGPU is not available in this browser (navigator.gpu is missing)');
      await init();
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

const ops = {
  async load({ source, kernels, weights }, progress) {
    let eng, model;
    if (source.fileUrl || source.file) {
      // One webclip model file: its header says the weight format.
      const name = source.file?.name ?? decodeURIComponent(new URL(source.fileUrl).pathname.split('/').pop());
      const read = source.file ? readPicked(source.file, progress) : fetchFile(new URL(source.fileUrl), name, progress, { big: true });
      let bytes;
      [eng, bytes] = await Promise.all([getEngine(kernels), read]);
      model = await serial(() => eng.loadModelFile(bytes, name));
    } else {
      let files;
      [eng, files] = await Promise.all([getEngine(kernels), readModel(source, progress)]);
      model = await serial(() => eng.loadModel(files.config, files.weights, files.tokenizer, files.preprocessor, weights));
    }
    const id = nextModelId++;
    models.set(id, model);
    return {
      modelId: id,
      adapter: { ...eng.adapter, ...(await adapterInfo()) },
      kernels: eng.family,
      weights: model.weights,
      gpuBytes: model.gpuBytes,
      timings: model.timings,
      projectionDim: model.projectionDim,
      imageSize: model.imageSize,
    };
  },

  classify({ modelId, image, labels, templates }) {
    return withImage(image, (picture) =>
      onModel(modelId, async (model) => ({ probs: await model.classify(picture, labels, templates), timings: model.timings })),
    );
  },

  embedImage({ modelId, image }) {
    return withImage(image, (picture) =>
      onModel(modelId, async (model) => ({ embedding: await model.embedImage(picture), timings: model.timings })),
    );
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
      models.get(modelId)?.free();
      models.delete(modelId);
    });
  },
};

/**
 * Runs `use(model)` in the queue. The model is looked up there, not before,
 * since a dispose queued earlier may have freed it; the timings are read
 * there too, before the next call changes them.
 */
function onModel(modelId, use) {
  return serial(() => {
    const model = models.get(modelId);
    if (!model) throw new Error('this model was disposed');
    return use(model);
  });
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
 * The picture as the engine's Image. Encoded bytes go to the Rust decoder so
 * that preprocessing is Pillow-exact; bitmaps are read back as RGBA.
 */
async function toImage(image) {
  switch (image.kind) {
    case 'encoded':
      return Image.decode(new Uint8Array(image.bytes), image.name);
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

/** The four files, from a model directory URL or from files the user picked. */
async function readModel(source, progress) {
  const names = ['config.json', 'model.safetensors', 'tokenizer.json', 'preprocessor_config.json'];
  let read;
  if (source.url) {
    read = (name) => fetchFile(new URL(name, source.url), name, progress);
  } else {
    // webclip.js has checked that all four are there.
    const byName = new Map(source.files.map((f) => [f.name, f]));
    read = (name) => readPicked(byName.get(name), progress);
  }
  // The small files first: a wrong URL is reported before a long download starts.
  const [config, tokenizer, preprocessor] = await Promise.all([names[0], names[2], names[3]].map(read));
  const weights = await read(names[1]);
  const text = new TextDecoder();
  return { config: text.decode(config), weights, tokenizer, preprocessor: text.decode(preprocessor) };
}

/** A file the user picked, as bytes. */
async function readPicked(file, progress) {
  progress({ loaded: 0, total: file.size, file: file.name });
  const bytes = new Uint8Array(await file.arrayBuffer());
  progress({ loaded: bytes.length, total: file.size, file: file.name });
  return bytes;
}

/** Fetches one file; progress is reported for big ones (the weights). */
async function fetchFile(url, name, progress, { big = name === 'model.safetensors' } = {}) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: could not be fetched (${e.message})`);
  }
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`.trim());
  if (!big) return new Uint8Array(await response.arrayBuffer());

  // A compressed response's Content-Length counts compressed bytes: then the
  // total is unknown.
  const length = Number(response.headers.get('Content-Length'));
  const total = response.headers.get('Content-Encoding') || !length ? undefined : length;
  const chunks = [];
  let loaded = 0;
  let lastReport = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    // A few reports per second are plenty; one per chunk would flood the page.
    if (performance.now() - lastReport > 100) {
      lastReport = performance.now();
      progress({ loaded, total, file: name });
    }
  }
  progress({ loaded, total: loaded, file: name });
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

self.onmessage = async ({ data: { id, op, ...args } }) => {
  const progress = (p) => self.postMessage({ id, progress: p });
  try {
    const result = await ops[op](args, progress);
    self.postMessage({ id, result });
  } catch (e) {
    // wasm-bindgen's JsError arrives as an Error; a panic as a RuntimeError.
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
    // After a trap the wasm instance's state is undefined: end this worker (its
    // error event makes the page's client fail over to a fresh one).
    if (e instanceof WebAssembly.RuntimeError) setTimeout(() => { throw e; });
  }
};
