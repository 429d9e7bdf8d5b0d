// The webclip worker: owns the WebGPU device, the compiled kernels and every
// loaded model, so decoding, tokenizing and GPU waits never touch the page's
// main thread. Spoken to only by www/webclip.js:
//   in:  { id, op, ...args }
//   out: { id, progress } while loading, then { id, result } or { id, error }.

import init, { Engine, Image } from './pkg/webclip.js';

let wasmMemory;

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

const ops = {
  // Streams the weights: the engine reads the header, checks every tensor,
  // then asks for one tensor's bytes at a time (HTTP Range requests, or
  // File.slice for picked files), so the whole file is never in wasm memory.
  async load({ source, kernels, weights }, progress) {
    let reader, texts;
    if (source.fileUrl) {
      reader = rangeReader(new URL(source.fileUrl), progress);
    } else if (source.file) {
      reader = fileReader(source.file, progress);
    } else {
      texts = await readTexts(source, progress);
      reader = source.url ? rangeReader(new URL('model.safetensors', source.url), progress) : fileReader(source.files.find((f) => f.name === 'model.safetensors'), progress);
    }
    const eng = await getEngine(kernels);
    const model = await serial(() => eng.loadModel(reader, texts?.config, texts?.tokenizer, texts?.preprocessor, weights));
    reader.done?.();
    const id = nextModelId++;
    models.set(id, model);
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

/** A directory's three small files (the weights are streamed separately). */
async function readTexts(source, progress) {
  const names = ['config.json', 'tokenizer.json', 'preprocessor_config.json'];
  const read = source.url
    ? (name) => fetchBytes(new URL(name, source.url))
    : (name) => source.files.find((f) => f.name === name).arrayBuffer().then((b) => new Uint8Array(b));
  const [config, tokenizer, preprocessor] = await Promise.all(names.map(read));
  progress({ loaded: 0, file: 'model.safetensors' });
  const text = new TextDecoder();
  return { config: text.decode(config), tokenizer, preprocessor: text.decode(preprocessor) };
}

async function fetchBytes(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new Error(`${url}: could not be fetched (${e.message})`);
  }
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`.trim());
  return init ? response : new Uint8Array(await response.arrayBuffer());
}

/** Bytes read so far, reported a few times a second (one report per read would flood the page). */
function progressCounter(file, progress) {
  let loaded = 0;
  let lastReport = 0;
  return {
    add(n, total, force = false) {
      loaded += n;
      if (force || performance.now() - lastReport > 100) {
        lastReport = performance.now();
        progress({ loaded, total, file });
      }
    },
  };
}

/** The engine's source for a File the user picked: slices, read on demand. */
function fileReader(file, progress) {
  const counter = progressCounter(file.name, progress);
  return {
    name: file.name,
    length: file.size,
    async read(offset, length) {
      const bytes = new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
      counter.add(bytes.length, file.size, offset + length >= file.size);
      return bytes;
    },
  };
}

// Bytes fetched per Range request at least: a layer's tensors sit together in
// the file, so one request serves many small reads.
const CHUNK = 8 << 20;

/**
 * The engine's source for a URL: HTTP Range requests of at least CHUNK bytes,
 * the last one kept to serve the reads that follow. `length` comes from the
 * first response's Content-Range. A server that ignores Range (a 200 with the
 * whole body) is read once into memory and served from there.
 */
function rangeReader(url, progress) {
  const name = decodeURIComponent(url.pathname.split('/').pop());
  const counter = progressCounter(name, progress);
  let block = { start: 0, bytes: new Uint8Array(0) };
  const reader = {
    name,
    length: undefined,
    async read(offset, length) {
      const end = offset + length;
      if (offset >= block.start && end <= block.start + block.bytes.length) {
        return block.bytes.slice(offset - block.start, end - block.start);
      }
      const last = Math.min(Math.max(end, offset + CHUNK), reader.length ?? Infinity) - 1;
      const response = await fetchBytes(url, { headers: { Range: `bytes=${offset}-${last}` } });
      let bytes;
      if (response.status === 206) {
        const total = /\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
        if (total) reader.length = Number(total[1]);
        bytes = new Uint8Array(await response.arrayBuffer());
        block = { start: offset, bytes };
      } else {
        // The whole file came: keep it all.
        bytes = new Uint8Array(await response.arrayBuffer());
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
