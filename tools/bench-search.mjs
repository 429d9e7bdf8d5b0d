// Photo search's speed in headless Chromium (issue 19), on each engine:
//   - ranking: a query embedding against an index of --pictures random embeddings
//     (default 100,000 of 512 values, written here in the documented format,
//     docs/search-index.md), the worker's time and the page's round trip;
//   - a word query end to end (text pass, ranking, answer), from the page;
//   - near-duplicates among --duplicates random embeddings (default 10,000: every pair compared);
//   - indexing: pictures per second through SearchIndex.add in batches of --batch,
//     the committed search folder's pictures under --copies names each.
//   node tools/bench-search.mjs --model /work/vitb32-q8.webclip [--pictures 100000] [--runs 9]
//                               [--batch 8] [--copies 4] [--engines webgpu,cpu] [--isolated]
// `--isolated` serves COOP/COEP: the CPU engine's threaded build on every core.
// Needs a release www/pkg* (tools/build-web.sh), webclip-serve (cargo build --bin
// webclip-serve) and playwright-core (tests/e2e: npm ci). Medians; compare within one run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { arg, launchChromium } = await import(join(root, 'tests/e2e/support.mjs'));
const model = arg('model', '/work/vitb32-q8.webclip');
const pictures = Number(arg('pictures', '100000'));
const runs = Number(arg('runs', '9'));
const batch = Number(arg('batch', '8'));
const copies = Number(arg('copies', '4'));
const engines = arg('engines', 'webgpu,cpu').split(',');
const dim = Number(arg('dim', '512'));
const duplicates = Number(arg('duplicates', '10000'));

/** A random index in the documented format: safetensors, I8 embeddings, F32 scales, JSON metadata. */
function randomIndex(n, dim) {
  const meta = {
    format: 'webclip-index', version: 1, model: { name: 'bench', sha256: '0'.repeat(64) },
    template: 'a photo of {}', root: 'bench', dim,
    paths: Array.from({ length: n }, (_, i) => `folder${i % 100}/picture-${i}.jpg`),
    sizes: Array.from({ length: n }, () => 100_000), modified: Array.from({ length: n }, () => 1.7e12),
  };
  const codes = n * dim;
  const header = {
    __metadata__: { 'webclip.index': JSON.stringify(meta) },
    embeddings: { dtype: 'I8', shape: [n, dim], data_offsets: [0, codes] },
    scales: { dtype: 'F32', shape: [n], data_offsets: [codes, codes + 4 * n] },
  };
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const scales = new Float32Array(n).fill(1 / (127 * Math.sqrt(dim / 3)));
  return Buffer.concat([length, json, randomBytes(codes).map((b) => (b === 128 ? 0 : b)), Buffer.from(scales.buffer)]);
}

const indexFile = `/tmp/webclip-bench-${pictures}.webclip-index`;
writeFileSync(indexFile, randomIndex(pictures, dim));
const smallFile = `/tmp/webclip-bench-${duplicates}.webclip-index`;
writeFileSync(smallFile, randomIndex(duplicates, dim));
const folder = join(root, 'tests/fixtures/search-photos');
const walk = (dir) => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
const files = walk(folder).filter((f) => /\.(png|jpg)$/.test(f) && !f.endsWith('broken.jpg')).map((f) => relative('/', f));

const server = spawn(join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug/webclip-serve'), ['--port', '0', '--root', '/', ...(process.argv.includes('--isolated') ? [] : ['--not-isolated'])], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve, reject) => {
  server.stdout.on('data', (chunk) => {
    const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(chunk));
    if (match) resolve(match[0]);
  });
  server.on('exit', (code) => reject(new Error(`webclip-serve exited with ${code}`)));
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const browser = await launchChromium({ webgpu: true });
try {
  for (const engine of engines) {
    const page = await browser.newPage();
    await page.goto(`${base}${relative('/', join(root, 'www/bench.html'))}`);
    const r = await page.evaluate(
      async ({ model, indexFile, smallFile, files, runs, batch, copies, engine }) => {
        const { ClipModel, SearchIndex } = await import('./webclip.js');
        const m = await ClipModel.load(model, { engine });
        const big = await SearchIndex.open(m, await (await fetch(indexFile)).blob(), { name: 'bench' });
        const rank = [];
        const roundTrip = [];
        const words = [];
        const text = [];
        for (let i = 0; i < runs + 1; i++) {
          const t0 = performance.now();
          const hits = await big.search({ like: `folder${i % 100}/picture-${i}.jpg`, top: 50 });
          if (i) (roundTrip.push(performance.now() - t0), rank.push(hits.timings.rankMs));
          const t1 = performance.now();
          const found = await big.search({ text: `a photo number ${i}`, top: 50 });
          if (i) (words.push(performance.now() - t1), text.push(found.timings.textMs));
        }
        const small = await SearchIndex.open(m, await (await fetch(smallFile)).blob(), { name: 'bench' });
        const t3 = performance.now();
        await small.duplicates();
        const duplicatesMs = performance.now() - t3;
        const blobs = await Promise.all(files.map(async (f) => [f, await (await fetch(`/${f}`)).blob()]));
        const index = await SearchIndex.create(m, { model: { name: model, sha256: '0'.repeat(64) } });
        const all = [];
        for (let c = 0; c < copies; c++) for (const [f, b] of blobs) all.push({ path: `${c}/${f}`, size: b.size, modified: 0, image: b });
        await index.add(all.slice(0, batch)); // warm-up
        const t2 = performance.now();
        for (let i = batch; i < all.length; i += batch) await index.add(all.slice(i, i + batch));
        const indexed = all.length - batch;
        return { engine: m.engine.description, size: big.size, duplicatesMs, smallSize: small.size, rank, roundTrip, words, text, indexed, seconds: (performance.now() - t2) / 1000 };
      },
      { model, indexFile, smallFile, files, runs, batch, copies, engine },
    );
    console.log(`${engine}: ${r.engine}`);
    console.log(`  ranking ${r.size} embeddings of ${dim}: worker ${median(r.rank).toFixed(1)} ms, page round trip ${median(r.roundTrip).toFixed(1)} ms (medians of ${runs})`);
    console.log(`  word query end to end: ${median(r.words).toFixed(1)} ms (text pass ${median(r.text).toFixed(1)} ms)`);
    console.log(`  near-duplicates among ${r.smallSize}: ${(r.duplicatesMs / 1000).toFixed(2)} s (one run)`);
    console.log(`  indexing: ${(r.indexed / r.seconds).toFixed(2)} pictures/s (${r.indexed} pictures, batches of ${batch})`);
    await page.close();
  }
} finally {
  await browser.close();
  server.kill();
}
