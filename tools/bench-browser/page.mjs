// The in-browser half of bench.mjs: one function per side, each returning a
// plain JSON-able result. Served from /bench/; the other mounts are
// /tjs/ (transformers.js dist), /ort/ (onnxruntime-web dist), /repo/ (this
// repository: www/ and www/pkg/), /models/vitb32/ and /models/vitb32-onnx/.

const ONNX_ID = 'vitb32-onnx'; // under env.localModelPath = '/models/'
const WEBCLIP_MODEL = '/models/vitb32/';
// The same checkpoint converted by `webclip convert` (tools/benchmark.sh), one file per weight format.
const WEBCLIP_FILES = '/models/vitb32-webclip/';
// transformers' CLIPModel in float64 on these inputs (tools/make_vitb32.py writes them)
const EXPECTED = '/models/vitb32/expected/';
const IMAGES = ['/repo/tests/fixtures/images/chelsea.png', '/repo/tests/fixtures/images/rocket.jpg'];

// 100 labels: the CIFAR-100 classes
const CIFAR100 = (
  'apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle ' +
  'caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish ' +
  'forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle ' +
  'mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine ' +
  'possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar ' +
  'sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree ' +
  'wolf woman worm'
).split(' ').map((c) => `a photo of a ${c.replace(/_/g, ' ')}`);
if (CIFAR100.length !== 100) throw new Error(`expected 100 labels, got ${CIFAR100.length}`);

const THRESHOLDS = { fp32: { metric: 'rel_err', limit: 1e-4 }, fp16: { metric: 'cos', limit: 0.9999 }, q8: { metric: 'cos', limit: 0.999 }, q4: { metric: 'cos', limit: 0.99 } };

const log = (...args) => console.log('[bench]', ...args);
const now = () => performance.now();
const secs = (msv) => `${(msv / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------

/** A little-endian float32 or float64 C-order .npy file. */
async function fetchNpy(url) {
  const buf = await (await checked(url)).arrayBuffer();
  const bytes = new Uint8Array(buf);
  const major = bytes[6];
  const dv = new DataView(buf);
  const headerLength = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const offset = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(offset, offset + headerLength));
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const start = offset + headerLength;
  if (/'descr': '<f4'/.test(header)) return { shape, data: new Float32Array(buf.slice(start)) };
  if (/'descr': '<f8'/.test(header)) return { shape, data: new Float64Array(buf.slice(start)) };
  throw new Error(`${url}: unsupported dtype in ${header}`);
}

async function checked(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

/** Reference features, pixel values and image files, fetched before any timing starts. */
async function prepare() {
  const [cases, pixels, imageFeatures, textFeatures, ...blobs] = await Promise.all([
    checked(`${EXPECTED}cases.json`).then((r) => r.json()),
    fetchNpy(`${EXPECTED}pixel_values.npy`),
    fetchNpy(`${EXPECTED}image_features.npy`),
    fetchNpy(`${EXPECTED}text_features.npy`),
    ...IMAGES.map((u) => checked(u).then((r) => r.blob())),
  ]);
  if (cases.images[0] !== 'chelsea.png') throw new Error(`expected/cases.json: the first image is ${cases.images[0]}, not chelsea.png`);
  const dim = imageFeatures.shape[1];
  const ref = {
    texts: cases.texts,
    input_ids: cases.input_ids,
    logit_scale: cases.logit_scale,
    image_features: rowsOf(imageFeatures.data, imageFeatures.shape[0], dim),
    text_features: rowsOf(textFeatures.data, textFeatures.shape[0], dim),
  };
  return { ref, pixels, chelsea: blobs[0], batch8: Array.from({ length: 8 }, (_, i) => blobs[i % 2]) };
}

function compare(got, want) {
  let dot = 0, gg = 0, ww = 0, dd = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    dot += g * w; gg += g * g; ww += w * w; dd += (g - w) ** 2;
  }
  return { rel_err: Math.sqrt(dd / ww), cos: dot / Math.sqrt(gg * ww) };
}

/** Worst case over rows: max relative error, min cosine. */
function worst(rows) {
  return { rel_err: Math.max(...rows.map((r) => r.rel_err)), cos: Math.min(...rows.map((r) => r.cos)), n: rows.length };
}

function judge(agreement, dtype) {
  const { metric, limit } = THRESHOLDS[dtype];
  const ok = (x) => (metric === 'rel_err' ? x.rel_err <= limit : x.cos >= limit);
  agreement.image.metric = agreement.text.metric = metric;
  agreement.threshold = { metric, limit };
  agreement.passed = ok(agreement.image) && ok(agreement.text);
  return agreement;
}

const rowsOf = (flat, n, dim) => Array.from({ length: n }, (_, i) => flat.subarray(i * dim, (i + 1) * dim));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarize(times, extra = {}) {
  return { n: times.length, median_ms: median(times), min_ms: Math.min(...times), max_ms: Math.max(...times), mean_ms: times.reduce((a, b) => a + b, 0) / times.length, times_ms: times, ...extra };
}

/**
 * Runs fn until maxRuns, or until budgetMs has passed and minRuns are done.
 * A warm-up call (untimed in the statistics) first if asked; when the
 * warm-up alone (or the projection) exceeds the budget, it is the only sample
 * (single_call).
 * Skipped when the projected duration of one call exceeds maxCallMs.
 */
async function measure(name, fn, { warmup = false, estimateMs = null, budgetMs, minRuns, maxRuns, maxCallMs }) {
  if (estimateMs != null && estimateMs > maxCallMs) {
    log(`${name}: skipped, one call projected at ${secs(estimateMs)}`);
    return { skipped: `one call projected at ${secs(estimateMs)} > --max-call-s`, projected_ms: estimateMs };
  }
  try {
    const extra = {};
    if (warmup) {
      // A slow call (projected or measured over the budget) is measured once,
      // without a separate warm-up: single_call, which may include first-call costs.
      const t = now();
      await fn();
      extra.warmup_ms = now() - t;
      if (extra.warmup_ms > budgetMs || (estimateMs ?? 0) > budgetMs) {
        log(`${name}: one call, ${secs(extra.warmup_ms)} (slow: no further runs)`);
        return summarize([extra.warmup_ms], { single_call: true });
      }
    }
    const times = [];
    const start = now();
    while (times.length < maxRuns && (times.length < minRuns || now() - start < budgetMs)) {
      const t = now();
      await fn();
      times.push(now() - t);
    }
    const r = summarize(times, extra);
    log(`${name}: median ${secs(r.median_ms)} (${secs(r.min_ms)}–${secs(r.max_ms)}), n=${r.n}`);
    return r;
  } catch (e) {
    log(`${name}: error ${e.message ?? e}`);
    return { error: String(e.message ?? e) };
  }
}

function softmax(xs) {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Probabilities over texts for one image, as CLIPModel: softmax(exp(logit_scale) * cos). */
function probabilities(image, texts, logitScale) {
  const scale = Math.exp(logitScale);
  const norm = (v) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  const ni = norm(image);
  return softmax(texts.map((t) => (scale * t.reduce((a, x, i) => a + x * image[i], 0)) / (ni * norm(t))));
}

// ---------------------------------------------------------------------------

async function info() {
  const out = { user_agent: navigator.userAgent, cross_origin_isolated: globalThis.crossOriginIsolated, hardware_concurrency: navigator.hardwareConcurrency };
  try {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) {
      const i = adapter.info ?? {};
      out.adapter = {
        vendor: i.vendor, architecture: i.architecture, description: i.description, device: i.device,
        is_fallback_adapter: i.isFallbackAdapter, shader_f16: adapter.features.has('shader-f16'),
        max_buffer_size: adapter.limits.maxBufferSize, max_storage_buffer_binding_size: adapter.limits.maxStorageBufferBindingSize,
      };
    } else out.adapter = { error: 'requestAdapter() returned null' };
  } catch (e) {
    out.adapter = { error: String(e.message ?? e) };
  }
  out.ort_wasm_threads = info_threads();
  return out;
}

async function transformers(device, dtype, opts) {
  const result = { device, dtype, notes: [] };
  const T = await import('/tjs/transformers.min.js');
  const { env } = T;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/models/';
  env.useBrowserCache = false; // every configuration downloads its files (the server says no-store too)
  env.backends.onnx.wasm.wasmPaths = '/ort/';
  if (opts.threads) env.backends.onnx.wasm.numThreads = opts.threads;
  const { ref, pixels, chelsea, batch8 } = await prepare();
  const labels4 = ref.texts.slice(0, 4);
  const dim = ref.image_features[0].length;

  // --ort-log N: onnxruntime's own log level (0 verbose .. 4 fatal), e.g. to see node placement
  const sessionOptions = opts.ortLogSeverity == null ? {} : { session_options: { logSeverityLevel: opts.ortLogSeverity } };
  log(`transformers.js ${T.env.version} ${device}/${dtype}: loading`);
  const t0 = now();
  const [tokenizer, processor, vision, text] = await Promise.all([
    T.AutoTokenizer.from_pretrained(ONNX_ID),
    T.AutoImageProcessor.from_pretrained(ONNX_ID),
    T.CLIPVisionModelWithProjection.from_pretrained(ONNX_ID, { device, dtype, ...sessionOptions }),
    T.CLIPTextModelWithProjection.from_pretrained(ONNX_ID, { device, dtype, ...sessionOptions }),
  ]);
  const t1 = now();
  let preprocessMs = [];
  const embedImages = async (blobs) => {
    const tp = now();
    const images = await Promise.all(blobs.map((b) => T.RawImage.fromBlob(b)));
    const inputs = await processor(images);
    preprocessMs.push(now() - tp);
    const { image_embeds } = await vision(inputs);
    return image_embeds;
  };
  const embedTexts = async (texts) => {
    const inputs = tokenizer(texts, { padding: true, truncation: true });
    const { text_embeds } = await text(inputs);
    return text_embeds;
  };
  const firstImage = await embedImages([chelsea]);
  const t2 = now();
  const firstTexts = await embedTexts(labels4);
  const t3 = now();
  result.cold = { load_ms: t1 - t0, first_image_ms: t2 - t1, first_text4_ms: t3 - t2, total_ms: t3 - t0 };
  const imageVec = Array.from(firstImage.data);
  const textVecs = rowsOf(firstTexts.data, 4, dim).map((r) => Array.from(r));
  result.cold.probs = probabilities(imageVec, textVecs, ref_logit_scale(ref));
  log(`cold: load ${secs(result.cold.load_ms)}, first image ${secs(result.cold.first_image_ms)}, first 4 texts ${secs(result.cold.first_text4_ms)}`);
  result.sessions = {
    vision: vision.sessions?.model?.config ?? null,
    text: text.sessions?.model?.config ?? null,
  };

  // Agreement with transformers (float64) on the reference inputs, model only:
  // the first reference image's pixel values, and the reference token ids. The
  // first 4 texts are the 4 labels just embedded: their ids are the reference's
  // when the tokenizer agrees (checked below), so only the others are run again.
  const tokenized = ref.texts.map((t) => Array.from(tokenizer(t, { truncation: true }).input_ids.data, Number));
  const same = tokenized.map((ids, i) => ids.length === ref.input_ids[i].length && ids.every((x, j) => x === ref.input_ids[i][j]));
  const plane = pixels.data.length / pixels.shape[0];
  const { image_embeds } = await vision({ pixel_values: new T.Tensor('float32', pixels.data.slice(0, plane), [1, ...pixels.shape.slice(1)]) });
  const image = worst([compare(image_embeds.data, ref.image_features[0])]);
  const textRows = [];
  for (let i = 0; i < ref.input_ids.length; i++) {
    if (i < 4 && same[i]) {
      textRows.push(compare(textVecs[i], ref.text_features[i]));
      continue;
    }
    const ids = ref.input_ids[i];
    const { text_embeds } = await text({ input_ids: new T.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
    textRows.push(compare(text_embeds.data, ref.text_features[i]));
  }
  const agreement = judge({ image, text: worst(textRows) }, dtype);
  // End to end (its own tokenizer and image preprocessing); reported, not judged:
  // browser canvas resizing is not Pillow's bicubic.
  agreement.end_to_end = {
    image_chelsea: compare(imageVec, ref.image_features[0]),
    texts4: worst(textVecs.map((v, i) => compare(v, ref.text_features[i]))),
  };
  // ... and how far its pixel values are from transformers' (Pillow) ones for the same PNG
  const own = (await processor(await T.RawImage.fromBlob(chelsea))).pixel_values.data;
  const refPixels = pixels.data.subarray(0, own.length);
  let maxAbs = 0, sumAbs = 0;
  for (let i = 0; i < own.length; i++) {
    const d = Math.abs(own[i] - refPixels[i]);
    maxAbs = Math.max(maxAbs, d);
    sumAbs += d;
  }
  agreement.end_to_end.pixel_values_chelsea = { max_abs: maxAbs, mean_abs: sumAbs / own.length, same_shape: own.length === refPixels.length };
  agreement.tokenizer = { equal: same.filter(Boolean).length, of: same.length, differs: ref.texts.filter((_, i) => !same[i]).map((t) => t.slice(0, 40)) };
  if (!same.every(Boolean)) {
    const i = same.indexOf(false);
    agreement.tokenizer.example = { text: ref.texts[i].slice(0, 60), tjs_len: tokenized[i].length, ref_len: ref.input_ids[i].length, tjs_last: tokenized[i].at(-1), ref_last: ref.input_ids[i].at(-1) };
  }
  result.agreement = agreement;
  log(`agreement: image rel ${image.rel_err.toExponential(2)} cos ${image.cos.toFixed(6)}; text rel ${agreement.text.rel_err.toExponential(2)} cos ${agreement.text.cos.toFixed(6)}; ${agreement.passed ? 'ok' : 'FAIL'}; tokenizer ${agreement.tokenizer.equal}/${agreement.tokenizer.of}`);

  // Warm
  const m = { budgetMs: opts.budgetMs, minRuns: opts.minRuns, maxRuns: opts.maxRuns, maxCallMs: opts.maxCallMs };
  preprocessMs = [];
  result.image_b1 = await measure('image, batch 1', () => embedImages([chelsea]), m);
  if (!result.image_b1.error) result.image_b1.preprocess_median_ms = median(preprocessMs);
  preprocessMs = [];
  result.image_b8 = await measure('image, batch 8', () => embedImages(batch8), { ...m, warmup: true, estimateMs: 8 * (result.image_b1.median_ms ?? 0) });
  if (result.image_b8.median_ms) {
    result.image_b8.images_per_s = 8000 / result.image_b8.median_ms;
    result.image_b8.preprocess_median_ms = median(preprocessMs);
  }
  result.text4 = await measure('4 texts', () => embedTexts(labels4), m);
  result.text100 = await measure('100 texts', () => embedTexts(CIFAR100), { ...m, warmup: true, estimateMs: 30 * (result.text4.median_ms ?? 0) });

  result.ort = {
    wasm_threads: env.backends.onnx.wasm.numThreads ?? info_threads(),
    wasm_proxy: env.backends.onnx.wasm.proxy,
    cross_origin_isolated: globalThis.crossOriginIsolated,
  };
  await Promise.all([vision.dispose(), text.dispose()]).catch(() => {});
  return result;
}

/** onnxruntime-web's default thread count, as transformers.js leaves it. */
function info_threads() {
  return Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2));
}

function ref_logit_scale(ref) {
  return ref.logit_scale ?? Math.log(100);
}

/**
 * webclip on `weights` ('f32' loads the checkpoint directory, the others their converted
 * model file) and `engine` ('webgpu', 'cpu' or 'auto', as ClipModel.load takes it).
 */
async function webclip(opts, weights = 'f32', engine = 'auto') {
  const result = { notes: [], weights, engine_asked: engine };
  const { ClipModel } = await import('/repo/www/webclip.js');
  const { ref, chelsea } = await prepare();
  const labels4 = ref.texts.slice(0, 4);

  log(`webclip ${weights} (engine ${engine}): loading`);
  const t0 = now();
  const model = await ClipModel.load(weights === 'f32' ? WEBCLIP_MODEL : `${WEBCLIP_FILES}model-${weights}.webclip`, { engine });
  const t1 = now();
  result.engine = model.engine;
  result.adapter = model.adapter;
  result.load_timings = model.timings;
  result.gpu_bytes = model.gpuBytes;
  result.wasm_bytes = model.wasmBytes;
  const firstImage = await model.embedImage(chelsea);
  const t2 = now();
  const firstTexts = await model.embedText(labels4);
  const t3 = now();
  result.cold = { load_ms: t1 - t0, first_image_ms: t2 - t1, first_text4_ms: t3 - t2, total_ms: t3 - t0 };
  result.cold.probs = probabilities(Array.from(firstImage), firstTexts.map((t) => Array.from(t)), ref_logit_scale(ref));
  log(`cold: load ${secs(result.cold.load_ms)}, first image ${secs(result.cold.first_image_ms)}, first 4 texts ${secs(result.cold.first_text4_ms)} (engine timings ${JSON.stringify(model.timings)})`);

  // Agreement: webclip's whole path (Pillow-exact PNG decoding and resizing, its
  // tokenizer) against transformers' float64 features. The 4 labels are the
  // reference's first 4 texts; the last two (77 tokens, non-Latin) are one more call.
  const rest = await model.embedText(ref.texts.slice(4));
  const texts = [...firstTexts, ...rest];
  result.agreement = judge({
    image: worst([compare(firstImage, ref.image_features[0])]),
    text: worst(texts.map((t, i) => compare(t, ref.text_features[i]))),
  }, { f32: 'fp32', f16: 'fp16', q8: 'q8', q4: 'q4' }[weights]);
  const a = result.agreement;
  log(`agreement: image rel ${a.image.rel_err.toExponential(2)}; text rel ${a.text.rel_err.toExponential(2)}; ${a.passed ? 'ok' : 'FAIL'}`);

  const m = { budgetMs: opts.budgetMs, minRuns: opts.minRuns, maxRuns: opts.maxRuns, maxCallMs: opts.maxCallMs };
  const engineMs = [];
  result.image_b1 = await measure('image, batch 1', async () => {
    await model.embedImage(chelsea);
    engineMs.push(model.timings?.imageMs);
  }, m);
  if (engineMs.every((x) => typeof x === "number")) result.image_b1.engine_image_median_ms = median(engineMs);
  const eight = Array(8).fill(chelsea);
  result.image_b8 = await measure('image, batch 8', () => model.embedImages(eight), { ...m, estimateMs: 8 * (result.image_b1.median_ms ?? 0) });
  if (result.image_b8.median_ms) result.image_b8.images_per_s = 8000 / result.image_b8.median_ms;
  result.text4 = await measure('4 texts', () => model.embedText(labels4), m);
  result.text100 = await measure('100 texts', () => model.embedText(CIFAR100), { ...m, warmup: true, estimateMs: 30 * (result.text4.median_ms ?? 0) });
  result.last_timings = model.timings;
  model.dispose();
  return result;
}

window.bench = { info, transformers, webclip };
window.benchReady = true;
