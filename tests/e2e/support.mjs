// What the browser tests share: the repository's paths, the page server
// (webclip-serve on a free port), a headless Chromium page with WebGPU, the
// page's own controls, and readers of the fixtures' expectations.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
export const fixture = join(root, 'tests/fixtures/tiny-clip');
const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const BASE_ARGS = ['--headless=new', '--no-sandbox', '--disable-dev-shm-usage', ...QUIET];

/** The debug `webclip` CLI (for conversions), checked to be built. */
export function cli() {
  const path = join(targetDir, 'debug', 'webclip');
  if (!existsSync(path)) throw new Error(`${path} is missing: run cargo build --bin webclip first`);
  return path;
}

/** Converts `dir` to a webclip model file at `out` (relative to the repository). */
export function convert(dir, weights, out, source) {
  mkdirSync(join(root, out, '..'), { recursive: true });
  execFileSync(cli(), ['convert', '--model', dir, '--quant', weights, '-o', join(root, out), ...(source ? ['--source', source] : [])]);
}

/** webclip-serve on a free port, serving the repository: `{ base, stop }`. */
export async function startServer() {
  const binary = join(targetDir, 'debug', 'webclip-serve');
  for (const [path, how] of [[binary, 'cargo build --bin webclip-serve'], [join(root, 'www/pkg/webclip_bg.wasm'), 'tools/build-web.sh']]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run ${how} first`);
  }
  const server = spawn(binary, ['--port', '0', '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  // The server prints its URL once it listens; port 0 lets the OS pick a free port.
  const base = await new Promise((resolve, reject) => {
    server.stdout.on('data', (chunk) => {
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(chunk));
      if (match) resolve(match[0]);
    });
    server.on('exit', (code) => reject(new Error(`webclip-serve exited with ${code}`)));
  });
  return { base, stop: () => server.kill() };
}

/** Headless Chromium (Debian's, or $CHROMIUM), with WebGPU unless `webgpu` is false. */
export function launchChromium({ webgpu = true } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: false, // the new headless mode is asked for in BASE_ARGS
    args: webgpu ? [...BASE_ARGS, '--enable-unsafe-webgpu'] : BASE_ARGS,
  });
}

/**
 * The two engines a test runs on when its subject is both: WebGPU forced (on
 * this machine's SwiftShader, which `auto` passes over), and a browser without
 * WebGPU, where `auto` takes the CPU engine. `query` is the page's `?engine=`
 * part, `engine` the JS API's option (undefined: auto).
 */
export const ENGINES = [
  { name: 'webgpu', webgpu: true, engine: 'webgpu', query: '&engine=webgpu', runs: 'webgpu' },
  { name: 'auto→cpu', webgpu: false, engine: undefined, query: '', runs: 'cpu' },
];

/** The value after `--name` on the command line (the tools' scripts), or `fallback`. */
export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** A fresh browser on `url`: `{ browser, context, page, problems }` (console errors and page errors). */
export async function openPage(t, url, { webgpu, meta = {} }) {
  const browser = await launchChromium({ webgpu });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  // `meta`: <meta name content> tags added to the page's own HTML, as a site configures it.
  if (Object.keys(meta).length) {
    const tags = Object.entries(meta).map(([name, content]) => `<meta name="${name}" content="${content}">`).join('');
    await context.route((u) => u.href.split('?')[0] === url.split('?')[0], async (route) => {
      const response = await route.fetch();
      route.fulfill({ response, body: (await response.text()).replace('<head>', `<head>${tags}`) });
    });
  }
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  await page.goto(url);
  return { browser, context, page, problems };
}

/** Minimal .npy reader: little-endian float64, C order. */
export function readNpy(path) {
  const bytes = readFileSync(path);
  assert.equal(bytes.subarray(1, 6).toString('latin1'), 'NUMPY', `${path} is not a .npy file`);
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const offset = major === 1 ? 10 : 12;
  const header = bytes.subarray(offset, offset + headerLength).toString('latin1');
  assert.match(header, /'descr': '<f8'/, `${path}: only float64 is read here`);
  assert.match(header, /'fortran_order': False/);
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const start = offset + headerLength;
  const data = new Float64Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  return { shape, data };
}

/** The page's error box: `{ kind, reader, detail }` (www/app.js's showFailure, www/reader-errors.js). */
export const shownError = (page) =>
  page.$eval('#error', (e) => ({ kind: e.dataset.kind, reader: e.querySelector('.reader')?.textContent, detail: e.querySelector('code')?.textContent }));

export async function waitForModel(page) {
  await page.waitForSelector('#model-status[data-state="ready"], #model-status[data-state="error"]', { timeout: 600_000 });
  const status = await page.textContent('#model-status');
  assert.equal(await page.getAttribute('#model-status', 'data-state'), 'ready', `${status} / ${await page.textContent('#error')}`);
}

export async function classify(page, image, labels, template) {
  await page.fill('#labels', labels.join('\n'));
  await page.fill('#template', template);
  await page.setInputFiles('#image-file', image);
  await page.waitForSelector('#results[data-state="done"], #results[data-state="error"]', { timeout: 600_000 });
  assert.equal(await page.getAttribute('#results', 'data-state'), 'done', await page.textContent('#error'));
  return page.$$eval('#results .bar', (bars) => bars.map((b) => ({ label: b.dataset.label, score: Number(b.dataset.score) })));
}

/** Cosine between two vectors. */
export function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

