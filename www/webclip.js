// webclip: OpenAI's CLIP (and Google's SigLIP) in the browser on WebGPU. The
// engine runs in a module Web Worker (./worker.js) so the page never freezes.
//
//   import { ClipModel } from './www/webclip.js';
//   const model = await ClipModel.load('openai/clip-vit-base-patch32', { onProgress }); // from the Hub, q8, cached
//   // or a directory: await ClipModel.load('models/clip-vit-base-patch32/');
//   // or one converted file: await ClipModel.load('models/clip-vit-base-patch32-q8.webclip');
//   const scores = await model.classify(fileOrImage, ['a cat', 'a dog'], { template: 'a photo of {}' });
//   // [{ label: 'a cat', score: 0.97 }, { label: 'a dog', score: 0.03 }]
//   // (CLIP: shares that sum to 1; SigLIP, `model.scoring === 'sigmoid'`: each label's own probability)
//
// Every ClipModel on a page shares one worker, and loading the same URL twice
// shares one model on the GPU; dispose() releases it when the last user does.

import { HUB, parseHubId } from './hub.js';
import { imagePayload } from './image-payload.js';
import { OP } from './protocol.js';

export { SearchIndex } from './search-index.js';

/** `{ ok: true }`, or `{ ok: false, reason }` with `reason` 'insecure', 'no-api' or 'no-adapter'. */
export async function checkWebGPU() {
  if (!globalThis.isSecureContext) return { ok: false, reason: 'insecure' };
  if (!navigator.gpu) return { ok: false, reason: 'no-api' };
  try {
    if (await navigator.gpu.requestAdapter()) return { ok: true };
  } catch {
    // Some browsers throw instead of resolving to null: same meaning.
  }
  return { ok: false, reason: 'no-adapter' };
}

/** Request/response over postMessage, matched by id. */
class WorkerClient {
  constructor() {
    this.pending = new Map();
    this.nextId = 1;
    this.worker = startWorker();
    workerStarted = true;
    this.worker.onmessage = ({ data }) => {
      const call = this.pending.get(data.id);
      if (!call) return;
      if (data.progress) return call.onProgress?.(data.progress);
      this.pending.delete(data.id);
      if ('error' in data) call.reject(new Error(data.error));
      else call.resolve(data.result);
      // The others running fail with it, and the next call starts a fresh worker.
      if (data.crashed) this.fail(new Error(data.error));
    };
    // Fires when the module itself fails to load (for instance www/pkg was
    // never built); pending calls would otherwise wait forever.
    this.worker.onerror = (event) => {
      event.preventDefault();
      const detail = event.message ? `: ${event.message}` : ' (is www/pkg built? run tools/build-web.sh)';
      this.fail(new Error(`the webclip worker failed${detail}`));
    };
    // First of all messages, so the census sees every buffer (a failure shows on the next call).
    if (countingGpuBuffers) this.call(OP.COUNT_GPU_BUFFERS).catch(() => {});
  }

  /** `signal` aborts a load: the worker is told to stop it, and the call rejects with the signal's reason. */
  call(op, args = {}, { transfer = [], onProgress, signal } = {}) {
    if (this.broken) return Promise.reject(this.broken);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.worker.postMessage({ id: this.nextId++, op: OP.CANCEL, loadId: id });
        this.pending.delete(id);
        reject(signal.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (f) => (value) => {
        signal?.removeEventListener('abort', onAbort);
        f(value);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject), onProgress });
      this.worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  /**
   * Ends this worker: every pending call rejects with `error`; the next call on
   * the page starts a fresh worker, where each model loads again (`ClipModel#call`).
   */
  fail(error) {
    if (this.broken) return;
    this.broken = error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    if (sharedClient === this) sharedClient = undefined;
    // Models held by this worker died with it: a later load starts afresh.
    for (const [url, entry] of cache) if (entry.worker === this) cache.delete(url);
    this.worker.terminate();
  }
}

/**
 * The module worker (./worker.js). A worker cannot be started from another
 * origin (webclip served from a CDN): then a same-origin `blob:` module that
 * imports it stands in, which needs `worker-src blob: <webclip's origin>` in a
 * page's Content-Security-Policy (a module worker's imports are checked
 * against it); its URL is revoked once the worker has run (not before: the
 * browser reads it after the constructor returns). Self-hosted, no `blob:` is
 * used. A page that enforces Trusted Types
 * (`require-trusted-types-for 'script'`) must allow the policy `webclip`
 * (`trusted-types webclip`), which vouches for these URLs only.
 */
function startWorker() {
  const url = new URL('./worker.js', import.meta.url);
  if (url.origin === location.origin) {
    // Written out as bundlers (Vite, webpack 5) recognise it, so they bundle the worker.
    try {
      return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    } catch (e) {
      // Trusted Types enforced: a plain URL is refused (and reported); the policy's is not.
      if (!(e instanceof TypeError) || !/TrustedScriptURL/.test(e.message)) throw e;
      return new Worker(trustedWorkerUrl(url.href, { required: true }), { type: 'module' });
    }
  }
  const wrapper = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  const worker = new Worker(trustedWorkerUrl(wrapper, { required: false }), { type: 'module' });
  const revoke = () => URL.revokeObjectURL(wrapper);
  worker.addEventListener('message', revoke, { once: true });
  worker.addEventListener('error', revoke, { once: true });
  return worker;
}

let workerPolicy;
/** The URLs the policy vouches for: the worker's, and each blob: wrapper made for it. */
const workerUrls = new Set();

/**
 * `href` as a TrustedScriptURL of the `webclip` policy where the browser has
 * Trusted Types, else as it is. A page whose `trusted-types` directive does not
 * allow the policy gets `href` as it is, or, when it is `required` (a plain URL
 * was already refused), an error saying what to allow.
 */
function trustedWorkerUrl(href, { required }) {
  if (!globalThis.trustedTypes?.createPolicy) return href;
  workerUrls.add(href);
  try {
    workerPolicy ??= trustedTypes.createPolicy('webclip', {
      createScriptURL(u) {
        if (!workerUrls.has(u)) throw new TypeError(`webclip's Trusted Types policy vouches only for its own worker, not ${u}`);
        return u;
      },
    });
  } catch (e) {
    if (!required) return href;
    throw new Error(`this page enforces Trusted Types: allow webclip's policy (add \`webclip\` to the page's \`trusted-types\` directive) so it may start its worker (${e.message})`);
  }
  return workerPolicy.createScriptURL(href);
}

let sharedClient;
const client = () => (sharedClient ??= new WorkerClient());
/** Whether a worker was ever started, and whether workers count GPU buffers (see `countGpuBuffers`). */
let workerStarted = false;
let countingGpuBuffers = false;

/** Loaded models by what was asked (source, engine, kernels, weights): { promise, users, listeners, waiting, worker }. */
const cache = new Map();

const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'preprocessor_config.json'];

export class ClipModel {
  /**
   * @param {string | URL | File[] | FileList} source a Hugging Face Hub id
   *   (`openai/clip-vit-base-patch32`, optionally `@revision`), a Hugging Face
   *   CLIP directory URL (its four files are fetched; write relative ones as
   *   `./dir/` or `dir/`), a webclip model file's URL (`webclip convert`: one
   *   file, ending in .webclip or .safetensors), or files the user picked: the
   *   four of a directory, or one model file
   * @param {{ onProgress?: (p: { loaded: number, total?: number, file: string, rate?: number, fromCache?: boolean }) => void,
   *   engine?: 'auto' | 'webgpu' | 'cpu', kernels?: 'tiled' | 'registers',
   *   weights?: 'f32' | 'f16' | 'q8' | 'q4', signal?: AbortSignal,
   *   hub?: string, mirror?: string }} options
   *   `engine` says where the model runs: 'auto' (the default) takes WebGPU on
   *   a hardware adapter and the CPU engine (WebAssembly) where the browser
   *   has no WebGPU, no adapter, only a software one, or lost its GPU device
   *   twice; 'webgpu' and 'cpu' force one (`model.engine` says which runs, and why).
   *   `kernels` forces a WebGPU kernel family: 'tiled' (built for GPUs) or 'registers'
   *   (for CPU-backed adapters such as SwiftShader); by default the adapter's
   *   type decides. `weights` is how the matrices live on the GPU: a directory
   *   is quantized in the worker while loading (default 'f32'); a Hub model
   *   defaults to 'q8'; a model file keeps the format it was converted to.
   *   `signal` cancels the load (with several callers sharing one load, once
   *   all of theirs have aborted). `hub` is the Hub's address (default
   *   https://huggingface.co); `mirror`, a base URL holding converted files as
   *   `<id>/model-<weights>.webclip`, tried before the Hub's own files.
   *   A Hub model is cached in the browser (origin private file system) as
   *   its converted file: the next load of the same commit reads no weights
   *   from the network (`model.origin.fromCache`).
   */
  static async load(source, { onProgress, engine, kernels, weights, signal, hub, mirror } = {}) {
    if (typeof source === 'string' || source instanceof URL) {
      const base = globalThis.document?.baseURI ?? location.href;
      const hubModel = await hubIdNotOwnPath(String(source), base);
      const where = hubModel ? { hub: { ...hubModel, hub: hub ?? HUB, mirror: mirror && withSlash(new URL(mirror, base).href) } } : modelUrl(source);
      const what = hubModel ? `hub ${where.hub.hub} ${hubModel.id}@${hubModel.revision} ${where.hub.mirror ?? ''}` : where.url ?? where.fileUrl;
      const key = `${engine ?? 'auto'} ${kernels ?? 'auto'} ${weights ?? 'stored'} ${what}`;
      let entry = cache.get(key);
      if (!entry) {
        const listeners = new Set();
        const worker = client();
        const controller = new AbortController();
        const promise = worker.call(OP.LOAD, { source: where, engine, kernels, weights }, { onProgress: (p) => listeners.forEach((f) => f(p)), signal: controller.signal });
        entry = { promise, users: 0, listeners, worker, waiting: 0, cancel: () => controller.abort(new DOMException('the model load was cancelled', 'AbortError')) };
        cache.set(key, entry);
        promise.catch(() => cache.delete(key)); // a failed load may be retried
      }
      if (onProgress) entry.listeners.add(onProgress);
      // The shared load is cancelled once every caller waiting for it has aborted.
      entry.waiting++;
      let waiting = true;
      const leave = () => {
        if (waiting) entry.waiting--;
        waiting = false;
      };
      try {
        const info = await untilAborted(entry.promise, signal, () => {
          leave();
          if (entry.waiting === 0) entry.cancel();
        });
        entry.users++;
        const reopen = () => ClipModel.load(source, { engine, kernels, weights, hub, mirror });
        return new ClipModel(entry.worker, info, () => {
          if (--entry.users > 0) return;
          if (cache.get(key) === entry) cache.delete(key);
          entry.worker.call(OP.DISPOSE, { modelId: info.modelId }).catch(() => {});
        }, reopen);
      } finally {
        leave();
        entry.listeners.delete(onProgress);
      }
    }
    const files = Array.from(source ?? []);
    if (!files.length || !files.every((f) => f instanceof File)) {
      throw new Error('ClipModel.load takes a Hub id, a model directory URL, a model file URL, or the model files (File objects)');
    }
    let picked;
    if (files.length === 1 && isModelFileName(files[0].name) && files[0].name !== 'model.safetensors') {
      picked = { file: files[0] };
    } else {
      const named = MODEL_FILES.map((name) => files.find((f) => f.name === name));
      const missing = MODEL_FILES.filter((_, i) => !named[i]);
      if (missing.length) {
        throw new Error(`${missing.join(', ')} missing from the picked files (a CLIP model is ${MODEL_FILES.join(', ')}, or one webclip model file)`);
      }
      picked = { files: named };
    }
    const worker = client();
    const info = await worker.call(OP.LOAD, { source: picked, engine, kernels, weights }, { onProgress, signal });
    const reopen = () => ClipModel.load(files, { engine, kernels, weights });
    return new ClipModel(worker, info, () => worker.call(OP.DISPOSE, { modelId: info.modelId }).catch(() => {}), reopen);
  }

  /** Loads the same model again (on a fresh worker, after a crash): a new ClipModel. */
  #reopen;
  /** The reload in progress: calls made at once after a crash share it. */
  #reopening;

  constructor(worker, info, release, reopen) {
    this.#reopen = reopen;
    this.worker = worker;
    this.modelId = info.modelId;
    /** Where it runs and why: `{ name: 'webgpu' | 'cpu', description }`, e.g.
     * "WebGPU on ... (tiled kernels)", "CPU, 1 thread: this browser has no WebGPU". */
    this.engine = info.engine;
    /** The WebGPU adapter: `{ name, vendor, architecture, software, maxBindingBytes }`; undefined on the CPU. */
    this.adapter = info.adapter;
    /** The kernel family running it on WebGPU: 'tiled' or 'registers'; undefined on the CPU. */
    this.kernels = info.kernels;
    /** How its matrices live on the GPU: 'f32', 'f16', 'q8' or 'q4'. */
    this.weights = info.weights;
    /** Bytes of GPU buffers it holds (weights, activations, inputs). */
    this.gpuBytes = info.gpuBytes;
    /** Size of the worker's wasm memory after loading: the load's peak (it never shrinks). */
    this.wasmBytes = info.wasmBytes;
    /** Where it came from: `{ kind: 'hub' | 'url' | 'files', fromCache, id?, revision?, commit?,
     * file?, offline?, cachedBytes?, cacheError?, quantizedHere? }` (`cachedBytes`: it was
     * saved for the next visit; `cacheError`: why it was not). */
    this.origin = info.origin;
    /** Length of every embedding. */
    this.projectionDim = info.projectionDim;
    /** Side of the square the vision tower sees, in pixels. */
    this.imageSize = info.imageSize;
    /** The largest `resolution` `heatmap` takes, in pixels; 0 when the model has no
     * heatmaps (SigLIP: `heatmap` rejects, saying so). */
    this.maxHeatmapResolution = info.maxHeatmapResolution;
    /** The model's family, from its config's `model_type`: 'clip' (OpenAI's CLIP, OpenCLIP)
     * or 'siglip' (Google's SigLIP and SigLIP 2). */
    this.family = info.family;
    /** How `classify` turns cosines into scores: 'softmax' (CLIP: each label's share,
     * the scores sum to 1) or 'sigmoid' (SigLIP: each label's own probability, on its
     * own; the scores need not sum to 1). */
    this.scoring = info.scoring;
    /** `{ loadMs, compileMs, imageMs, textMs, encodedPrompts }`, updated by every call
     * (milliseconds; `encodedPrompts`: prompts classify had to encode, the rest were cached). */
    this.timings = info.timings;
    this.release = release;
  }

  /**
   * Zero-shot probabilities, highest first, each with its label's cosine
   * similarity to the image and whether the label is longer than the text the
   * model reads (77 tokens for CLIP, 64 for SigLIP; `truncated`: only its
   * beginning counted). What `score` is depends on `scoring`:
   * - 'softmax' (CLIP): the label's share among the labels given; the scores
   *   sum to 1 (with one label it is always 1; the cosine still says how well it fits).
   * - 'sigmoid' (SigLIP): the label's own probability, sigmoid(scale · cosine + bias),
   *   whatever the other labels are; the scores need not sum to 1.
   * `cosine` is always the cosine similarity of the label's prompt(s) and the image.
   * @param image File, Blob, ImageBitmap, HTMLImageElement, ImageData (or a canvas)
   * @param {string[]} labels
   * @param {{ template?: string | string[], onProgress?: (p: { stage: 'labels', done: number, total: number }) => void }} options
   *   `template`: `'a photo of {}'`; several templates are averaged; none or ''
   *   uses the labels as they are. `onProgress`: after each pass over labels
   *   not encoded before (a thousand labels take several).
   * @returns {Promise<{ label: string, score: number, cosine: number, truncated: boolean }[]>}
   *   highest `score` first
   */
  async classify(image, labels, { template, onProgress } = {}) {
    const templates = templatesOf(template);
    const result = await this.#call(OP.CLASSIFY, await imagePayload(image), { labels: [...labels], templates }, undefined, onProgress);
    return ranked(labels, result);
  }

  /**
   * Where in the picture each label matches: one map per label over a grid of
   * patches (ClearCLIP, computed from the same weights; the README's "Where
   * does it see it?" section defines it). One vision pass serves every label;
   * prompts come from the same cache as `classify`'s. CLIP models only: where
   * `maxHeatmapResolution` is 0 (SigLIP) it rejects, saying why.
   * @param image as for `classify`
   * @param {string[]} labels
   * @param {{ template?: string | string[], resolution?: number, overlay?: number }} options
   *   `resolution`: side in px of the square the picture is resized and
   *   cropped to (rounded to the patch size; default twice the model's input,
   *   at most `maxHeatmapResolution`). `overlay`: also draw each map as RGBA of
   *   about that side (viridis), to lay over `crop`.
   * @returns {Promise<{ labels: string[], rows: number, cols: number, resolution: number,
   *   maps: Float32Array[], cosines: Float32Array[], crop: { x: number, y: number, width: number, height: number },
   *   descriptions: string[], overlays?: { width: number, height: number, data: Uint8ClampedArray }[] }>}
   *   `maps[i]`: label i's probability among the labels per cell, row-major;
   *   `cosines[i]`: its cosine per cell; `crop`: the part of the picture the
   *   grid covers, in the picture's pixels; `descriptions[i]`: the map in words.
   */
  async heatmap(image, labels, { template, resolution, overlay } = {}) {
    const templates = templatesOf(template);
    const args = { labels: [...labels], templates, resolution, overlayPx: overlay };
    const { timings, ...map } = await this.#call(OP.HEATMAP, await imagePayload(image), args);
    return map;
  }

  /**
   * `classify` for an image embedded earlier (`embedImage`): only the labels
   * are encoded (or come from the worker's cache), so a page that lets readers
   * change labels never re-encodes the picture. Scores as `classify`'s (`scoring`).
   * @param {Float32Array} embedding from `embedImage`
   */
  async scoreEmbedding(embedding, labels, { template, onProgress } = {}) {
    const result = await this.#call(OP.SCORE_EMBEDDING, null, { embedding: Float32Array.from(embedding), labels: [...labels], templates: templatesOf(template) }, [], onProgress);
    return ranked(labels, result);
  }

  /** Projected image features (as `get_image_features`, not normalised). */
  async embedImage(image) {
    return (await this.#call(OP.EMBED_IMAGE, await imagePayload(image))).embedding;
  }

  /** Projected features of several images, batched on the GPU: one `Float32Array` each. */
  async embedImages(images) {
    const payloads = await Promise.all(Array.from(images, imagePayload));
    const transfer = payloads.flatMap((p) => p.transfer ?? []);
    return (await this.#call(OP.EMBED_IMAGES, null, { images: payloads.map((p) => p.payload) }, transfer)).embeddings;
  }

  /** Projected text features, one `Float32Array` per text. */
  async embedText(texts) {
    return (await this.#call(OP.EMBED_TEXT, null, { texts: [texts].flat() })).embeddings;
  }

  /** Frees the GPU memory once every user of this model has disposed of it. */
  dispose() {
    if (!this.release) return;
    this.release();
    this.release = undefined;
  }

  async #call(op, image, args = {}, transfer = image?.transfer ?? [], onProgress = undefined) {
    const result = await this.callWorker(op, { image: image?.payload, ...args }, { transfer, onProgress });
    this.timings = result.timings;
    return result;
  }

  /**
   * For webclip's own modules (SearchIndex): `op` on this model's worker with
   * its `modelId`. If that worker crashed since (a trap, out of memory), the
   * model loads again on a fresh one first, once for all the calls that find it so.
   */
  async callWorker(op, args, options) {
    if (!this.release) throw new Error('this model was disposed');
    if (this.worker.broken) {
      this.#reopening ??= this.#reopen()
        .then((fresh) => this.#adopt(fresh))
        .finally(() => (this.#reopening = undefined));
      await this.#reopening;
    }
    return this.worker.call(op, { modelId: this.modelId, ...args }, options);
  }

  /** Takes over `fresh`'s worker, model and release (it was loaded only for this one). */
  #adopt(fresh) {
    if (!this.release) {
      fresh.dispose(); // disposed while it reloaded
      throw new Error('this model was disposed');
    }
    this.worker = fresh.worker;
    this.modelId = fresh.modelId;
    this.release = fresh.release;
    fresh.release = undefined;
  }
}

/**
 * GFLOP/s of the engine's kernels on this browser's adapter (`www/bench.html`):
 * `{ kernels, adapter, timings: [{ kernel, shape, median_ms, gflops, ... }] }`.
 * @param {{ kernels?: 'tiled' | 'registers', samples?: number, only?: string,
 *   weights?: 'f32' | 'f16' | 'q8' | 'q4' }} options `weights`: the matmul's weight format
 */
export function benchKernels({ kernels, samples = 5, only = '', weights } = {}) {
  return client().call(OP.BENCH_KERNELS, { kernels, samples, only, weights });
}

/** Templates as the engine takes them: a list, without empty ones. */
const templatesOf = (template) => [template ?? []].flat().filter((t) => t !== '');

/** `{ probs, cosines, truncated }` in label order as `[{ label, score, cosine, truncated }]`, highest first. */
const ranked = (labels, { probs, cosines, truncated }) =>
  labels.map((label, i) => ({ label, score: probs[i], cosine: cosines[i], truncated: Boolean(truncated?.[i]) })).sort((a, b) => b.score - a.score);

/**
 * The RGB pixels webclip reads from encoded image bytes (a File or Blob), as
 * Pillow decodes them: `{ width, height, rgb: Uint8Array, decoder }`.
 * `decoder` 'browser' (JPEG, where this browser is proven Pillow-exact) or
 * 'webclip' (the Rust decoder); ask for 'webclip' to force it.
 * @param {Blob} image
 * @param {{ decoder?: 'auto' | 'webclip' }} options
 */
export async function readPixels(image, { decoder } = {}) {
  if (!(image instanceof Blob)) throw new Error('readPixels takes a File or Blob of encoded image bytes');
  const { payload, transfer } = await imagePayload(image);
  return client().call(OP.PIXELS, { image: payload, decoder }, { transfer });
}

/**
 * What the worker holds: `{ gpuBuffers, gpuBytes, wasmBytes, models }` (GPU
 * buffers as the engine counts those it holds; wasm memory only grows), and
 * `census: { buffers, bytes }`, WebGPU's own count, after `countGpuBuffers()`.
 * Classifying in a loop keeps all of them flat.
 */
export function memoryUsage() {
  return client().call(OP.MEMORY);
}

/**
 * Counts every GPU buffer the worker makes, from WebGPU itself (it wraps
 * `GPUDevice.createBuffer`: www/gpu-census.js), into `memoryUsage().census`.
 * For tests and benchmarks; call it before anything else of webclip's (a
 * buffer made before would go uncounted): once the worker has started, it throws.
 */
export function countGpuBuffers() {
  if (countingGpuBuffers) return;
  if (workerStarted) throw new Error("countGpuBuffers() must come before webclip's worker starts (before the first ClipModel.load or other webclip call): buffers made earlier would go uncounted");
  countingGpuBuffers = true;
}

/**
 * Destroys the worker's GPU device, as a driver reset or a GPU process crash
 * would: the call running fails with an error that says so, and the next call
 * on each model loads it again on a new device. For testing recovery.
 */
export function simulateDeviceLoss() {
  return client().call(OP.SIMULATE_DEVICE_LOSS);
}

/**
 * `{ width, height }` of a picture (a File or Blob) from its header, after the
 * checks the engine makes before decoding it: a format it reads (PNG, JPEG,
 * WebP, GIF, BMP), at least one pixel and at most 178,956,970. Ask it before
 * showing a reader's picture with `<img>`, so a decompression bomb meets this
 * check, not the browser's decoder. Throws naming the file and what is wrong.
 * @param {Blob} image
 */
export async function checkImage(image) {
  const bytes = await image.arrayBuffer();
  const [width, height] = await client().call(OP.CHECK_IMAGE, { bytes, name: image.name ?? 'blob' }, { transfer: [bytes] });
  return { width, height };
}

/**
 * Traps in the worker's wasm, as a panic or running out of wasm memory would:
 * the call running fails naming it, the worker is replaced, and each model
 * loads again on its next call. For testing recovery.
 */
export function simulateCrash() {
  return client().call(OP.SIMULATE_CRASH);
}

/**
 * Models kept in this browser for the next visit (Hub loads):
 * `[{ key, id, revision, commit, weights, bytes, savedAt }]`, newest first;
 * then the model files still being written (a load in this or another tab),
 * which take space too: `{ key, partial: true, file, bytes, savedAt }`.
 */
export function cachedModels() {
  return client().call(OP.CACHED_MODELS);
}

/** Frees a cached model's storage (`key` from cachedModels()), or every one's; resolves to what remains. */
export function forgetCachedModels(key) {
  return client().call(OP.FORGET_CACHED, { key });
}

/** `promise`, or its rejection with `signal`'s reason (calling `onAbort`) once `signal` aborts first. */
function untilAborted(promise, signal, onAbort) {
  if (!signal) return promise;
  if (signal.aborted) {
    onAbort();
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

const withSlash = (url) => (url.endsWith('/') ? url : `${url}/`);

/** Whether a file name or URL path is a webclip model file's (one file, not a directory). */
export const isModelFileName = (name) => /\.(webclip|safetensors)$/.test(name);

/**
 * `parseHubId(source)`, unless `source` is the page's own model directory: an
 * `owner/name` without `@revision` is first looked for as `<base>owner/name/config.json`
 * on the page's own server (one same-origin HEAD request), and taken for a Hub id only
 * when that is not there (or is an HTML page: a server answering every path with its
 * app). So a page's `model="models/clip"` is never sent to the Hub, as transformers.js
 * looks for a local model before the Hub. An explicit `@revision` is always the Hub's.
 */
async function hubIdNotOwnPath(source, base) {
  const hubModel = parseHubId(source);
  if (!hubModel || source.includes('@')) return hubModel;
  const config = new URL(`${source}/config.json`, base);
  if (config.origin !== new URL(base).origin) return hubModel;
  const own = await fetch(config, { method: 'HEAD' }).then(
    (r) => r.ok && !/html/i.test(r.headers.get('content-type') ?? ''),
    () => false,
  );
  return own ? undefined : hubModel;
}

/**
 * Where a model is: `{ url }` for a directory (absolute, ending in '/'), or
 * `{ fileUrl }` for a webclip model file.
 */
function modelUrl(source) {
  const url = new URL(source, globalThis.document?.baseURI ?? location.href);
  if (url.pathname.endsWith('/')) return { url: url.href };
  if (isModelFileName(url.pathname)) return { fileUrl: url.href };
  url.pathname += '/';
  return { url: url.href };
}
