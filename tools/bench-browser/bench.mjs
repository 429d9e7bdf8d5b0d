#!/usr/bin/env node
// webclip vs transformers.js on the same CLIP model, in the same headless
// Chromium (developer machines only), in two sections:
// - gpu: both on the same WebGPU adapter (webclip's engine forced to 'webgpu');
// - cpu: a browser without WebGPU, transformers.js' WASM configurations against
//   webclip's CPU engine (engine 'auto', as a page gets it), once per thread
//   count: 1 on a page that is not cross-origin isolated (as an article that
//   embeds the widget), N on an isolated one (both told to use N threads).
//
//   cd tools/bench-browser && npm ci --ignore-scripts
//   node bench.mjs [--only webclip|transformers] [--configs webgpu-fp32,webgpu-q8,webgpu-q4,wasm-fp32,wasm-q8]
//                  [--sections gpu,cpu] [--cpu-threads 1,2]
//                  [--model /work/vitb32] [--onnx /work/vitb32-onnx] [--out ../out/bench-browser.json]
//                  [--quick] [--budget-s 20] [--webclip-budget-s 60] [--min-runs 3] [--max-runs 10]
//                  [--max-call-s 300] [--threads N] [--ort-log 0-4] [--verbose]
//                  [--webclip-weights f32,f16,q8,q4] [--webclip-files /work/vitb32-webclip]
//   node bench.mjs --report ../out/bench-browser.json     # the Markdown table of an earlier run
//
// Needs: the model from tools/make_vitb32.py, its ONNX export from
// tools/make_onnx.py, and for the webclip side www/pkg (tools/build-web.sh) and,
// for each weight format but f32, the model file `webclip convert` makes of the
// same checkpoint (`<files>/model-<weights>.webclip`; tools/benchmark.sh makes them).
// Every configuration runs in a fresh browser (cold caches; the server also
// sends Cache-Control: no-store). Writes a JSON report and prints a Markdown table.

import { createServer } from 'node:http';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const ALL_CONFIGS = ['webgpu-fp32', 'webgpu-q8', 'webgpu-q4', 'wasm-fp32', 'wasm-q8'];
const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
// Without it headless Chromium has no WebGPU: the CPU section's browser.
const WEBGPU_ARG = '--enable-unsafe-webgpu';

function parseArgs(argv) {
  const o = {
    only: null, configs: ALL_CONFIGS, model: '/work/vitb32', onnx: '/work/vitb32-onnx',
    out: join(root, 'tools/out/bench-browser.json'), chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
    budgetS: 20, webclipBudgetS: 60, minRuns: 3, maxRuns: 10, maxCallS: 300, threads: null, ortLogSeverity: null,
    configTimeoutS: 3600, verbose: false, quick: false, webclipWeights: ['f32', 'f16', 'q8', 'q4'], webclipFiles: null,
    sections: ['gpu', 'cpu'], cpuThreads: [1, 2],
  };
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} needs a number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--only': o.only = next(); break;
      case '--configs': o.configs = next().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--model': o.model = resolve(next()); break;
      case '--onnx': o.onnx = resolve(next()); break;
      case '--webclip-weights': o.webclipWeights = next().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--webclip-files': o.webclipFiles = resolve(next()); break;
      case '--sections': o.sections = next().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--cpu-threads': o.cpuThreads = next().split(',').map((s) => num(s, a)).filter((n) => n >= 1); break;
      case '--out': o.out = resolve(next()); break;
      case '--chromium': o.chromium = next(); break;
      case '--budget-s': o.budgetS = num(next(), a); break;
      case '--webclip-budget-s': o.webclipBudgetS = num(next(), a); break;
      case '--min-runs': o.minRuns = num(next(), a); break;
      case '--max-runs': o.maxRuns = num(next(), a); break;
      case '--max-call-s': o.maxCallS = num(next(), a); break;
      case '--threads': o.threads = num(next(), a); break;
      case '--ort-log': o.ortLogSeverity = num(next(), a); break;
      case '--config-timeout-s': o.configTimeoutS = num(next(), a); break;
      case '--quick': o.quick = true; break;
      case '--report': o.report = resolve(next()); break;
      case '--verbose': o.verbose = true; break;
      case '-h': case '--help':
        console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  o.webclipFiles ??= `${o.model.replace(/\/+$/, '')}-webclip`;
  for (const w of o.webclipWeights) if (!['f32', 'f16', 'q8', 'q4'].includes(w)) throw new Error(`unknown webclip weights ${w}`);
  if (o.only && !['webclip', 'transformers'].includes(o.only)) throw new Error('--only takes webclip or transformers');
  for (const c of o.configs) if (!ALL_CONFIGS.includes(c)) throw new Error(`unknown config ${c}; known: ${ALL_CONFIGS.join(', ')}`);
  for (const s of o.sections) if (!['gpu', 'cpu'].includes(s)) throw new Error(`unknown section ${s}; known: gpu, cpu`);
  if (o.quick) {
    // development runs: a couple of timed runs per measurement
    o.budgetS = Math.min(o.budgetS, 3);
    o.webclipBudgetS = Math.min(o.webclipBudgetS, 3);
    o.minRuns = Math.min(o.minRuns, 2);
    o.maxRuns = Math.min(o.maxRuns, 3);
  }
  return o;
}

// ---------------------------------------------------------------------------
// Static server: COOP/COEP while `server.isolated` (cross-origin isolated, so
// onnxruntime-web and webclip may use wasm threads), no caching, byte counts per
// request for the download sizes.

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.css': 'text/css', '.map': 'application/json',
};

function startServer(mounts, log) {
  const server = createServer((req, res) => {
    const isolation = server.isolated ? {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    } : {};
    const url = new URL(req.url, 'http://x');
    let path;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = null;
    }
    const mount = path && Object.keys(mounts).find((m) => path.startsWith(m));
    let file = null;
    if (mount) {
      const base = mounts[mount];
      const candidate = normalize(join(base, path.slice(mount.length)));
      if (candidate === base || candidate.startsWith(base + sep)) file = candidate;
    }
    const headers = { ...isolation, 'Cache-Control': 'no-store' };
    let stat = null;
    try {
      stat = file && statSync(file);
    } catch {
      stat = null;
    }
    if (!stat || !stat.isFile() || !['GET', 'HEAD'].includes(req.method)) {
      log.push({ t: Date.now(), method: req.method, path: url.pathname, status: 404, bytes: 0 });
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    headers['Content-Type'] = TYPES[extname(file)] ?? 'application/octet-stream';
    headers['Content-Length'] = stat.size;
    res.writeHead(200, headers);
    const entry = { t: Date.now(), method: req.method, path: url.pathname, status: 200, bytes: req.method === 'GET' ? stat.size : 0 };
    log.push(entry);
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  server.isolated = true;
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

// ---------------------------------------------------------------------------

function sizeOfFiles(dir, names) {
  return Object.fromEntries(names.map((n) => [n, existsSync(join(dir, n)) ? statSync(join(dir, n)).size : null]));
}

function gitInfo() {
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'shaders', 'www'], { encoding: 'utf8' }).trim();
    return { commit: head, src_dirty: dirty.length > 0 };
  } catch {
    return {};
  }
}

function pkgVersion(name) {
  return JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
}

async function withBrowser(o, fn, { webgpu = true } = {}) {
  const args = webgpu ? [...CHROMIUM_ARGS, WEBGPU_ARG] : CHROMIUM_ARGS;
  const browser = await chromium.launch({ executablePath: o.chromium, headless: false, args });
  try {
    return await fn(browser);
  } finally {
    await browser.close().catch(() => {});
  }
}

async function openPage(browser, base, o) {
  const page = await browser.newPage();
  page.on('console', (m) => {
    const text = m.text();
    if (text.startsWith('[bench]')) console.log(`  ${text.slice(8)}`);
    else if (o.verbose || m.type() === 'error') console.log(`  [page ${m.type()}] ${text.slice(0, 500)}`);
  });
  page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
  page.on('crash', () => console.log('  [page crashed]'));
  await page.goto(`${base}/bench/page.html`);
  await page.waitForFunction(() => window.benchReady === true || window.benchError, null, { timeout: 60_000 });
  const err = await page.evaluate(() => window.benchError);
  if (err) throw new Error(`page failed to start: ${err}`);
  return page;
}

function withTimeout(promise, seconds, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result after ${seconds} s`)), seconds * 1000);
    }),
  ]);
}

const BENCH_INPUTS = /\/expected\/|\/tests\/fixtures\//;

/** Bytes served, by kind, from the given request-log entries. */
function downloads(entries) {
  const out = { model_bytes: 0, runtime_bytes: 0, files: {} };
  for (const e of entries) {
    if (e.status !== 200 || !e.bytes) continue;
    if (BENCH_INPUTS.test(e.path)) continue; // the benchmark's own inputs and references
    if (e.path.startsWith('/models/')) out.model_bytes += e.bytes;
    else if (/\.(wasm|m?js)$/.test(e.path) && !e.path.startsWith('/bench/')) out.runtime_bytes += e.bytes;
    else continue;
    out.files[e.path] = (out.files[e.path] ?? 0) + e.bytes;
  }
  out.missing = [...new Set(entries.filter((e) => e.status === 404).map((e) => e.path))];
  return out;
}

// ---------------------------------------------------------------------------
// Report

const ms = (v) => (v == null ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`);
const mb = (b) => (b == null ? '–' : `${(b / 1e6).toFixed(0)} MB`);

function timing(m) {
  if (!m) return '–';
  if (m.skipped) return `skipped (${m.skipped})`;
  if (m.error) return `error`;
  const range = m.n > 1 ? ` (${ms(m.min_ms)}–${ms(m.max_ms)})` : '';
  return `${ms(m.median_ms)}${range}, n=${m.n}${m.single_call ? ' (single call)' : ''}`;
}

function agreementCell(a) {
  if (!a) return '–';
  const f = (x) => (x == null ? '–' : x.metric === 'rel_err' ? `rel ${x.rel_err.toExponential(1)}` : `cos ${x.cos.toFixed(5)}`);
  return `img ${f(a.image)}, txt ${f(a.text)}${a.passed ? '' : ' **FAIL**'}`;
}

function markdown(report) {
  const m = report.meta;
  const lines = [];
  lines.push(`Browser: ${m.browser} (${m.user_agent})`);
  const ad = m.adapter ?? {};
  const q = (v) => JSON.stringify(v ?? null);
  lines.push(`Adapter (navigator.gpu.requestAdapter().info): vendor=${q(ad.vendor)} architecture=${q(ad.architecture)} description=${q(ad.description)} device=${q(ad.device)} fallback=${ad.is_fallback_adapter}; shader-f16=${ad.shader_f16}${ad.error ? `; ${ad.error}` : ''}`);
  if (report.webclip?.adapter) lines.push(`webclip's adapter (wgpu): ${JSON.stringify(report.webclip.adapter)}`);
  lines.push(`transformers.js ${m.versions.transformers_js}, onnxruntime-web ${m.versions.onnxruntime_web} (wasm threads: ${m.ort_wasm_threads ?? '?'}, crossOriginIsolated: ${m.cross_origin_isolated}); webclip ${m.webclip.commit?.slice(0, 10) ?? '?'}${m.webclip.src_dirty ? ' + uncommitted src' : ''}`);
  lines.push(`Host: ${m.host.cpus} x ${m.host.cpu_model}, ${m.host.platform}; ${m.started} — total ${(m.total_s / 60).toFixed(1)} min`);
  const header = (first) => [
    `| ${first} | download (model) | load | first image | first 4 texts | cold total | warm image, batch 1 (median (min–max), n) | batch 8 | 4 texts | 100 texts | agreement with transformers (float64) |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const line = (name, r) => {
    if (r.error && !r.cold) return `| ${name} | ${mb(r.download?.model_bytes)} | error: ${r.error.split('\n')[0].slice(0, 120)} |  |  |  |  |  |  |  |  |`;
    const b8 = r.image_b8?.images_per_s ? `${r.image_b8.images_per_s.toFixed(2)} img/s (${ms(r.image_b8.median_ms)}/batch, n=${r.image_b8.n})` : timing(r.image_b8);
    return `| ${name} | ${mb(r.download?.model_bytes)} | ${ms(r.cold?.load_ms)} | ${ms(r.cold?.first_image_ms)} | ${ms(r.cold?.first_text4_ms)} | ${ms(r.cold?.total_ms)} | ${timing(r.image_b1)} | ${b8} | ${timing(r.text4)} | ${timing(r.text100)} | ${agreementCell(r.agreement)} |`;
  };
  const rows = [...Object.entries(report.transformers ?? {}).map(([k, v]) => [`transformers.js ${k}`, v]),
    ...(report.webclip ? [['webclip (WebGPU, fp32)', report.webclip]] : []),
    ...Object.entries(report.webclip_formats ?? {}).map(([w, r]) => [`webclip (WebGPU, ${w} model file)`, r])];
  if (rows.length) lines.push('', ...header('side / config'), ...rows.map(([name, r]) => line(name, r)));
  const cpuRows = [];
  for (const [threads, c] of Object.entries(report.cpu ?? {})) {
    const where = `${threads} thread${threads === '1' ? '' : 's'}, ${c.isolated ? 'isolated page' : 'page not isolated'}`;
    cpuRows.push(...Object.entries(c.transformers).map(([k, v]) => [`transformers.js ${k}, ${where}`, v]));
    cpuRows.push(...Object.entries(c.webclip).map(([w, v]) => [`webclip CPU, ${w === 'f32' ? 'fp32 checkpoint' : `${w} model file`}, ${where}`, v]));
  }
  if (cpuRows.length) {
    lines.push('', 'Without WebGPU (Chromium started without `--enable-unsafe-webgpu`): transformers.js\' WASM backend and webclip\'s CPU engine (`engine: \'auto\'`, what a page gets by default):', '');
    lines.push(...header('side / config, threads'), ...cpuRows.map(([name, r]) => line(name, r)));
    const engines = [...new Set(cpuRows.filter(([n]) => n.startsWith('webclip')).map(([, r]) => r.engine?.description).filter(Boolean))];
    if (engines.length) lines.push('', `webclip's model.engine: ${engines.map((e) => `"${e}"`).join('; ')}`);
    const mem = cpuRows.filter(([n, r]) => n.startsWith('webclip') && r.wasm_bytes).map(([n, r]) => `${n.replace(/^webclip CPU, /, '')}: ${mb(r.wasm_bytes)}`);
    if (mem.length) lines.push('', `webclip's wasm memory after loading (the load's peak; it never shrinks): ${mem.join('; ')}`);
  }
  rows.push(...cpuRows);
  const notes = [];
  const tjs = rows.filter(([name, r]) => name.startsWith('transformers.js') && r.agreement).map(([name, r]) => [name.replace(/^transformers\.js /, ''), r]);
  for (const [name, r] of rows) {
    if (r.error) notes.push(`- ${name}: ${r.error.split('\n')[0]}`);
    for (const n of r.notes ?? []) notes.push(`- ${name}: ${n}`);
  }
  if (tjs.length) {
    // the same for every configuration: tokenizer and image preprocessing run on the CPU
    const { tokenizer: tok, end_to_end: e2e } = tjs[0][1].agreement;
    if (tok && tok.equal < tok.of) {
      const ex = tok.example ? ` (\`${tok.example.text.slice(0, 24)}…\`: ${tok.example.tjs_len} ids ending in ${tok.example.tjs_last}; reference ends in ${tok.example.ref_last}, end-of-text)` : '';
      notes.push(`- transformers.js tokenizer: the reference ids for ${tok.equal} of ${tok.of} texts${ex}; the model check above feeds the reference ids`);
    }
    const px = e2e?.pixel_values_chelsea;
    if (px) notes.push(`- transformers.js image preprocessing (chelsea.png) vs transformers' Pillow pixel values: max |d| ${px.max_abs.toFixed(3)}, mean |d| ${px.mean_abs.toFixed(4)} (normalised units)`);
    notes.push(`- transformers.js end to end (own preprocessing, chelsea.png) vs the float64 reference, image cos: ${tjs.map(([k, r]) => `${k} ${r.agreement.end_to_end?.image_chelsea?.cos.toFixed(6)}`).join(', ')}`);
  }
  if (notes.length) lines.push('', ...notes);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.report) {
    console.log(markdown(JSON.parse(readFileSync(o.report, 'utf8'))));
    return;
  }
  const started = Date.now();
  const sides = o.only ? [o.only] : ['transformers', 'webclip'];
  const need = ['model.safetensors', 'expected/cases.json', 'expected/pixel_values.npy', 'expected/image_features.npy', 'expected/text_features.npy']
    .map((f) => [join(o.model, f), `python3 tools/make_vitb32.py ${o.model}`]);
  if (sides.includes('transformers')) {
    for (const c of o.configs) {
      const sfx = { fp32: '', q8: '_quantized', q4: '_q4' }[c.split('-')[1]];
      for (const m of ['vision_model', 'text_model']) need.push([join(o.onnx, `onnx/${m}${sfx}.onnx`), `python3 tools/make_onnx.py ${o.model} ${o.onnx}`]);
    }
  }
  if (sides.includes('webclip')) {
    need.push([join(root, 'www/pkg/webclip_bg.wasm'), 'tools/build-web.sh']);
    if (o.sections.includes('cpu') && o.cpuThreads.some((t) => t > 1)) need.push([join(root, 'www/pkg-threads/webclip_bg.wasm'), 'tools/build-web.sh (with a nightly that has rust-src)']);
    for (const w of o.webclipWeights.filter((w) => w !== 'f32')) need.push([join(o.webclipFiles, `model-${w}.webclip`), `webclip convert --model ${o.model} --quant ${w} -o ${join(o.webclipFiles, `model-${w}.webclip`)}`]);
  }
  for (const [path, how] of need) if (!existsSync(path)) throw new Error(`${path} is missing: run ${how}`);

  const log = [];
  const mounts = {
    '/bench/': here,
    '/repo/': root,
    '/tjs/': join(here, 'node_modules/@huggingface/transformers/dist'),
    '/ort/': join(here, 'node_modules/onnxruntime-web/dist'),
    '/models/vitb32-onnx/': o.onnx,
    '/models/vitb32/': o.model,
    '/models/vitb32-webclip/': o.webclipFiles,
  };
  const server = await startServer(mounts, log);
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`serving on ${base}; chromium ${o.chromium}`);

  const report = {
    meta: {
      started: new Date(started).toISOString(),
      options: o,
      versions: { transformers_js: pkgVersion('@huggingface/transformers'), onnxruntime_web: pkgVersion('onnxruntime-web'), playwright_core: pkgVersion('playwright-core'), node: process.version },
      host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, platform: `${os.type()} ${os.release()}`, mem_gb: +(os.totalmem() / 2 ** 30).toFixed(1) },
      webclip: { ...gitInfo(), pkg_bytes: existsSync(join(root, 'www/pkg/webclip_bg.wasm')) ? statSync(join(root, 'www/pkg/webclip_bg.wasm')).size : null },
      model: { safetensors: o.model, onnx: o.onnx },
      file_bytes: {
        webclip: sizeOfFiles(o.model, ['config.json', 'model.safetensors', 'tokenizer.json', 'preprocessor_config.json']),
        ...Object.fromEntries(o.webclipWeights.filter((w) => w !== 'f32').map((w) => [`webclip_${w}`, sizeOfFiles(o.webclipFiles, [`model-${w}.webclip`])])),
        ...Object.fromEntries(['fp32', 'q8', 'q4'].map((d) => {
          const sfx = { fp32: '', q8: '_quantized', q4: '_q4' }[d];
          return [`onnx_${d}`, sizeOfFiles(o.onnx, [`onnx/vision_model${sfx}.onnx`, `onnx/text_model${sfx}.onnx`, 'tokenizer.json', 'tokenizer_config.json', 'config.json', 'preprocessor_config.json'])];
        })),
      },
    },
  };

  const pageOpts = (budgetS) => ({
    budgetMs: budgetS * 1000, minRuns: o.minRuns, maxRuns: o.maxRuns, maxCallMs: o.maxCallS * 1000, threads: o.threads,
    ortLogSeverity: o.ortLogSeverity,
  });

  // Browser and adapter facts, once.
  await withBrowser(o, async (browser) => {
    const page = await openPage(browser, base, o);
    const info = await page.evaluate(() => window.bench.info());
    Object.assign(report.meta, { browser: `Chromium ${browser.version()}`, ...info });
    console.log(`Chromium ${browser.version()}; adapter ${JSON.stringify(info.adapter)}`);
  });

  const save = () => {
    report.meta.total_s = (Date.now() - started) / 1000;
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
  };

  // One configuration in a fresh browser: its result, the bytes it downloaded, its wall time.
  const runOne = async (label, call, { webgpu, isolated }) => {
    console.log(label);
    server.isolated = isolated;
    const t0 = Date.now();
    let result;
    try {
      result = await withBrowser(o, async (browser) => {
        const page = await openPage(browser, base, o);
        return withTimeout(call(page), o.configTimeoutS, label);
      }, { webgpu });
    } catch (e) {
      result = { error: String(e.message ?? e) };
    }
    result.download = downloads(log.filter((e) => e.t >= t0));
    result.wall_s = (Date.now() - t0) / 1000;
    console.log(`  -> ${result.error ? `error: ${result.error.split('\n')[0]}` : 'done'} (${result.wall_s.toFixed(0)} s)`);
    return result;
  };
  const tjsCall = (device, dtype, threads, budgetS) => (page) =>
    page.evaluate(([d, t, p]) => window.bench.transformers(d, t, p), [device, dtype, { ...pageOpts(budgetS), threads }]);
  const webclipCall = (weights, engine) => (page) =>
    page.evaluate(([p, w, e]) => window.bench.webclip(p, w, e), [pageOpts(o.webclipBudgetS), weights, engine]);

  // GPU section: both on the browser's WebGPU adapter, on an isolated page.
  if (o.sections.includes('gpu')) {
    if (sides.includes('transformers')) {
      report.transformers = {};
      for (const cfg of o.configs.filter((c) => c.startsWith('webgpu'))) {
        const [device, dtype] = cfg.split('-');
        report.transformers[cfg] = await runOne(`transformers.js ${cfg}`, tjsCall(device, dtype, o.threads, o.budgetS), { webgpu: true, isolated: true });
        save();
      }
    }
    // One row per weight format: f32 from the checkpoint, the others from their model files.
    if (sides.includes('webclip')) {
      report.webclip_formats = {};
      for (const weights of o.webclipWeights) {
        const result = await runOne(`webclip ${weights} (webgpu)`, webclipCall(weights, 'webgpu'), { webgpu: true, isolated: true });
        if (weights === 'f32') report.webclip = result;
        else report.webclip_formats[weights] = result;
        save();
      }
    }
  }

  // CPU section: a browser without WebGPU; 1 thread on a page that is not isolated.
  if (o.sections.includes('cpu')) {
    report.cpu = {};
    for (const threads of o.cpuThreads) {
      const isolated = threads > 1;
      const section = (report.cpu[threads] = { isolated, transformers: {}, webclip: {} });
      if (sides.includes('transformers')) {
        for (const cfg of o.configs.filter((c) => c.startsWith('wasm'))) {
          const [device, dtype] = cfg.split('-');
          section.transformers[cfg] = await runOne(`transformers.js ${cfg}, ${threads} thread(s)`, tjsCall(device, dtype, threads, o.budgetS), { webgpu: false, isolated });
          save();
        }
      }
      if (sides.includes('webclip')) {
        for (const weights of o.webclipWeights) {
          section.webclip[weights] = await runOne(`webclip ${weights} (auto: CPU), ${isolated ? 'isolated' : 'not isolated'}`, webclipCall(weights, 'auto'), { webgpu: false, isolated });
          save();
        }
      }
    }
  }

  save();
  server.close();
  console.log('');
  console.log(markdown(report));
  console.log('');
  console.log(`wrote ${o.out}`);
  const cpuRows = Object.values(report.cpu ?? {}).flatMap((c) => [...Object.values(c.transformers), ...Object.values(c.webclip)]);
  const failed = [...Object.values(report.transformers ?? {}), ...(report.webclip ? [report.webclip] : []), ...Object.values(report.webclip_formats ?? {}), ...cpuRows].some((r) => r.error);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e.stack ?? e);
  process.exit(2);
});
