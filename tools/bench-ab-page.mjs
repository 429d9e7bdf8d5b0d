// A/B speed check of two wasm builds (www/pkg from tools/build-web.sh) on the
// browser page www/bench.html, in headless Chromium: runs the page with the
// BEFORE pkg and the AFTER pkg alternately (ABAB...), RUNS times each, a fresh
// browser every run, takes each run's median of one image and of 4 labels per
// model entry (kernel family x weight format), and prints the median of those
// medians per side and the after/before ratios.
//
//   node tools/bench-ab-page.mjs --before PKG_DIR --after PKG_DIR --model DIR|FILE.webclip [--runs 10]
//        [--samples 5] [--families registers] [--weights f32] [--limit 1.03]
//        [--www DIR | --before-www DIR --after-www DIR] [--serve PATH/TO/webclip-serve] [--out FILE.jsonl]
//
// Each side is served from a temporary copy of www/ (this repository's, or
// --www / --before-www / --after-www, e.g. the two checkouts' www/ when the
// refactor touches the page's JS) with its pkg/ replaced by the given one, under
// one webclip-serve root that also links the model in. Exit 1 if a ratio is
// above --limit. Needs playwright-core (tests/e2e: npm ci), /usr/bin/chromium
// (or $CHROMIUM) and webclip-serve (cargo build --bin webclip-serve).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { arg, launchChromium } = await import(join(root, 'tests/e2e/support.mjs'));

const before = arg('before', '');
const after = arg('after', '');
const model = arg('model', '');
if (!before || !after || !model) {
  const usage = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.replace(/^\/\/ ?/, ''));
  console.error(usage.join('\n'));
  process.exit(2);
}
const runs = Number(arg('runs', '10'));
const samples = arg('samples', '5');
const families = arg('families', 'registers');
const weights = arg('weights', 'f32');
const limit = Number(arg('limit', '1.03'));
const www = arg('www', join(root, 'www'));
const wwwOf = { before: arg('before-www', www), after: arg('after-www', www) };
const pkgOf = { before, after };
const out = arg('out', join(tmpdir(), `bench-ab-page.${process.pid}.jsonl`));
writeFileSync(out, '');

function findServer() {
  const given = arg('serve', process.env.WEBCLIP_SERVE ?? '');
  if (given) return given;
  const dirs = [process.env.CARGO_TARGET_DIR, join(root, 'target')].filter(Boolean);
  const candidates = dirs.flatMap((d) => ['debug', 'release'].map((p) => join(d, p, 'webclip-serve')));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no webclip-serve in ${candidates.join(', ')}: cargo build --bin webclip-serve, or pass --serve`);
  return found;
}

const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);

// The served tree: before/ and after/ (www with their pkg), m/ (the model).
const tree = mkdtempSync(join(tmpdir(), 'bench-ab-page-'));
for (const side of ['before', 'after']) {
  const pkg = resolve(pkgOf[side]);
  const wasm = join(pkg, 'webclip_bg.wasm');
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing: --${side} must be a www/pkg built by tools/build-web.sh`);
  cpSync(resolve(wwwOf[side]), join(tree, side), { recursive: true, filter: (src) => !src.startsWith(join(resolve(wwwOf[side]), 'pkg')) });
  cpSync(pkg, join(tree, side, 'pkg'), { recursive: true });
  console.log(`  ${side.padEnd(6)} pkg ${pkg} (webclip_bg.wasm sha256 ${sha(wasm)}), www ${resolve(wwwOf[side])}`);
}
const modelPath = resolve(model);
let modelUrl;
if (statSync(modelPath).isDirectory()) {
  symlinkSync(modelPath, join(tree, 'm'));
  modelUrl = '/m/';
} else {
  mkdirSync(join(tree, 'm'));
  symlinkSync(modelPath, join(tree, 'm', basename(modelPath)));
  modelUrl = `/m/${basename(modelPath)}`;
}

const server = spawn(findServer(), ['--port', '0', '--root', tree], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve, reject) => {
  server.stdout.on('data', (chunk) => {
    const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(chunk));
    if (match) resolve(match[0]);
  });
  server.on('exit', (code) => reject(new Error(`webclip-serve exited with ${code}`)));
});

/** One page run in a fresh browser: the page's report (window.benchReport). */
async function pageRun(side) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && console.error(`  [${side} console] ${m.text()}`));
    const query = `auto=1&samples=${samples}&families=${families}&weights=${weights}&model=${encodeURIComponent(modelUrl)}`;
    await page.goto(`${base}${side}/bench.html?${query}`);
    await page.waitForFunction(() => window.benchReport || window.benchError, null, { timeout: 0 });
    const error = await page.evaluate(() => window.benchError);
    if (error) throw new Error(`${side}: ${error}`);
    return await page.evaluate(() => window.benchReport);
  } finally {
    await browser.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const rows = [];
try {
  console.log(`bench-ab-page: ${runs} runs each, ABAB..., model ${modelPath}, families=${families} weights=${weights} samples=${samples}`);
  for (let i = 1; i <= runs; i++) {
    for (const side of ['before', 'after']) {
      const started = performance.now();
      const report = await pageRun(side);
      const wall = (performance.now() - started) / 1e3;
      for (const m of report.models) {
        const row = { side, run: i, entry: `${m.kernels}/${m.weights}`, image_ms: m.image.median_ms, labels_ms: m.texts4.median_ms, load_ms: m.load_ms, adapter: report.adapter.description || report.adapter.device, raw: m };
        rows.push(row);
        appendFileSync(out, JSON.stringify(row) + '\n');
        console.log(`  run ${String(i).padStart(2)} ${side.padEnd(6)} ${row.entry.padEnd(14)} image ${row.image_ms.toFixed(2).padStart(9)} ms   4 labels ${row.labels_ms.toFixed(2).padStart(9)} ms   (load ${row.load_ms.toFixed(0)} ms, page ${wall.toFixed(0)} s)`);
      }
    }
  }
} finally {
  server.kill();
  rmSync(tree, { recursive: true, force: true });
}

let worst = 0;
console.log(`\n${''.padEnd(24)} ${'before median'.padStart(14)} ${'after median'.padStart(14)} ${'after/before'.padStart(13)}   (spread of per-run medians: min-max)`);
for (const entry of [...new Set(rows.map((r) => r.entry))]) {
  for (const [key, name] of [['image_ms', 'image'], ['labels_ms', '4 labels']]) {
    const b = rows.filter((r) => r.entry === entry && r.side === 'before').map((r) => r[key]);
    const a = rows.filter((r) => r.entry === entry && r.side === 'after').map((r) => r[key]);
    const [mb, ma] = [median(b), median(a)];
    worst = Math.max(worst, ma / mb);
    console.log(`${`${entry} ${name}`.padEnd(24)} ${mb.toFixed(2).padStart(11)} ms ${ma.toFixed(2).padStart(11)} ms ${(ma / mb).toFixed(4).padStart(13)}   before ${Math.min(...b).toFixed(2)}-${Math.max(...b).toFixed(2)}, after ${Math.min(...a).toFixed(2)}-${Math.max(...a).toFixed(2)}`);
  }
}
console.log(`\n${worst <= limit ? 'PASS' : 'FAIL'}: worst after/before ratio ${worst.toFixed(4)} (limit ${limit}); raw runs in ${out}`);
process.exit(worst <= limit ? 0 : 1);
