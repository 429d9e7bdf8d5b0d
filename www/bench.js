// www/bench.html: the benchmark anyone can run on their own GPU. Both kernel
// families on ViT-B/32's shapes, then (with a model URL) whole forward passes
// per family, and the adapter's name, limits and features, as a plain-text
// report. `?auto=1&model=...&samples=...` runs it on load and sets
// `window.benchReport` (how tools/ drive it headless). `?weights=f32,q8` picks
// the weight formats timed (default all four; a model directory is quantized
// to each while loading, a webclip model file keeps its own). `?engines=cpu` (or
// `webgpu,cpu`) picks the engines whose whole passes are timed (default: WebGPU
// where the browser has it, else the CPU); kernels are timed on WebGPU only.

import { ClipModel, benchKernels, isModelFileName } from './webclip.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// `?families=registers` limits the run to one family (the tiled one is slow on software adapters).
const FAMILIES = (params.get('families') ?? 'registers,tiled').split(',');
const FORMATS = (params.get('weights') ?? 'f32,f16,q8,q4').split(',');

async function adapterReport() {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return undefined;
  const info = adapter.info ?? {};
  const limits = {};
  for (const key in adapter.limits) limits[key] = adapter.limits[key];
  return {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    fallback: adapter.isFallbackAdapter ?? info.isFallbackAdapter,
    features: [...adapter.features].sort(), limits,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeRuns(samples, fn) {
  await fn();
  const times = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return { median_ms: median(times), min_ms: Math.min(...times), max_ms: Math.max(...times), runs: samples };
}

/** Whole passes on `url`'s model on one engine (and WebGPU kernel family) and weight format: one image, a batch of 8, 4 labels. */
async function modelBench(url, engine, kernels, weights, samples, status) {
  const start = performance.now();
  const model = await ClipModel.load(url, { engine, kernels, weights });
  const loadMs = performance.now() - start;
  try {
    const side = model.imageSize;
    const pixels = new ImageData(side, side);
    for (let i = 0; i < pixels.data.length; i++) pixels.data[i] = (i * 37) % 251;
    status(`${kernels}: first image`);
    const first = performance.now();
    await model.embedImage(pixels);
    const firstImageMs = performance.now() - first;
    status(`${kernels}: images`);
    const image = await timeRuns(samples, () => model.embedImage(pixels));
    const batch8 = await timeRuns(Math.ceil(samples / 2), () => model.embedImages(Array(8).fill(pixels)));
    status(`${kernels}: texts`);
    const labels = ['a photo of a cat', 'a photo of a dog', 'a robot', 'wall-e'];
    const texts4 = await timeRuns(samples, () => model.embedText(labels));
    return { engine: model.engine.name, engine_description: model.engine.description, kernels: model.kernels, weights: model.weights, gpu_bytes: model.gpuBytes, load_ms: loadMs, compile_ms: model.timings.compileMs, first_image_ms: firstImageMs, image, image_batch8: batch8, texts4 };
  } finally {
    model.dispose();
  }
}

function format(report) {
  const lines = [`webclip benchmark, ${new Date().toISOString()}`, `browser: ${navigator.userAgent}`];
  const a = report.adapter;
  if (a) {
    lines.push(`adapter: vendor=${a.vendor} architecture=${a.architecture} device=${a.device} description=${a.description} fallback=${a.fallback}`);
    lines.push(`features: ${a.features.join(' ')}`);
    lines.push(`limits: ${Object.entries(a.limits).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  } else {
    lines.push('adapter: none (no WebGPU)');
  }
  lines.push('', 'kernels (median ms, GFLOP/s):');
  for (const t of report.kernels) {
    lines.push(`  ${t.family.padEnd(10)} ${t.kernel.padEnd(10)} ${t.weights.padEnd(4)} ${t.shape.padEnd(52)} ${t.median_ms.toFixed(3).padStart(9)} ms ${t.gflops.toFixed(2).padStart(8)} GFLOP/s`);
  }
  for (const m of report.models) {
    const r = (x) => `${x.median_ms.toFixed(1)} ms (min ${x.min_ms.toFixed(1)}, max ${x.max_ms.toFixed(1)}, ${x.runs} runs)`;
    lines.push('', `model on ${m.engine_description}, ${m.weights} weights (${(m.gpu_bytes / 1e6).toFixed(1)} MB): load ${m.load_ms.toFixed(0)} ms (kernel compilation ${m.compile_ms.toFixed(0)} ms), first image ${m.first_image_ms.toFixed(0)} ms`);
    lines.push(`  one image ${r(m.image)}; batch of 8 ${r(m.image_batch8)}; 4 labels ${r(m.texts4)}`);
  }
  lines.push('', JSON.stringify(report));
  return lines.join('\n');
}

/** Timed runs per measurement: a whole number from 1 to 100 (a link's `?samples=1e9` would run for days). */
const MAX_SAMPLES = 100;
function samplesOf(value) {
  const n = Number(value || 5);
  if (!Number.isInteger(n) || n < 1 || n > MAX_SAMPLES) throw new Error(`samples: ${JSON.stringify(String(value))} is not a whole number from 1 to ${MAX_SAMPLES}`);
  return n;
}

async function run({ model, samples }) {
  const status = (text) => { $('bench-status').textContent = text; };
  $('error').hidden = true;
  const report = { adapter: await adapterReport(), kernels: [], models: [] };
  const engines = (params.get('engines') ?? (report.adapter ? 'webgpu' : 'cpu')).split(',');
  if (engines.includes('webgpu') && !params.get('model-only')) {
    for (const kernels of FAMILIES) {
      for (const weights of FORMATS) {
        status(`${kernels} kernels, ${weights} weights…`);
        report.kernels.push(...(await benchKernels({ kernels, samples, weights })).timings);
      }
    }
  }
  if (model) {
    const formats = isModelFileName(model) ? [undefined] : FORMATS;
    for (const engine of engines) {
      for (const kernels of engine === 'webgpu' ? FAMILIES : [undefined]) {
        for (const weights of formats) report.models.push(await modelBench(model, engine, kernels, weights, samples, status));
      }
    }
  }
  status('done');
  $('bench-report').value = format(report);
  return report;
}

function fail(e) {
  $('error').textContent = e.message ?? String(e);
  $('error').hidden = false;
  window.benchError = e.message ?? String(e);
}

$('bench-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('bench-run').disabled = true;
  try {
    await run({ model: $('bench-model').value.trim(), samples: samplesOf($('bench-samples').value) });
  } catch (e) {
    fail(e);
  } finally {
    $('bench-run').disabled = false;
  }
});
$('bench-copy').addEventListener('click', () => navigator.clipboard.writeText($('bench-report').value));

if (params.get('auto')) {
  if (params.get('model')) $('bench-model').value = params.get('model');
  if (params.get('samples')) $('bench-samples').value = params.get('samples');
  Promise.resolve()
    .then(() => run({ model: params.get('model'), samples: samplesOf(params.get('samples')) }))
    .then((report) => { window.benchReport = report; })
    .catch(fail);
}
