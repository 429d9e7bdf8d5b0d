// The readers' view: the demo page and the article example fit phone widths
// without sideways scrolling, with and without WebGPU, before and after the
// model loads; failures read as one plain sentence (www/reader-errors.js) with
// the technical detail behind a disclosure, and a widget whose model fails
// keeps its picture and labels. Screenshots of each go to target/e2e/ (kept in
// docs/screenshots/ for the README: `cp target/e2e/readers-*.png docs/screenshots/`).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { launchChromium, root, targetDir } from './support.mjs';
import { forReaders } from '../../www/reader-errors.js';

const WIDTHS = [320, 360, 1280];
let server;
before(async () => {
  server = await startStatic(root);
  mkdirSync(join(targetDir, 'e2e'), { recursive: true });
});
after(() => server?.close());

/** How far the page scrolls sideways: scrollWidth beyond the viewport, and the widest element that sticks out. */
const overflow = (page) =>
  page.evaluate(() => {
    const width = window.innerWidth;
    const culprits = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > width + 0.5)
      .map((e) => `${e.localName}${e.id ? `#${e.id}` : ''} (right ${Math.round(e.getBoundingClientRect().right)})`);
    return { excess: document.documentElement.scrollWidth - width, culprits: culprits.slice(0, 5) };
  });

async function assertFits(page, what) {
  const { excess, culprits } = await overflow(page);
  assert.ok(excess <= 0, `${what}: scrolls sideways by ${excess} px (${culprits.join(', ')})`);
}

for (const webgpu of [true, false]) {
  const variant = webgpu ? 'webgpu' : 'no-webgpu';

  test(`the demo page fits 320, 360 and 1280 px (${variant})`, { timeout: 300_000 }, async (t) => {
    const browser = await launchChromium({ webgpu });
    t.after(() => browser.close());
    for (const width of WIDTHS) {
      const page = await browser.newPage({ viewport: { width, height: 800 } });
      // Held back so the page is measured before a model is loaded, too.
      let release;
      const held = new Promise((resolve) => (release = resolve));
      await page.route('**/www/models/demo/model-q4.webclip', async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(`${server.base}index.html`);
      await page.waitForSelector('#model-status');
      await assertFits(page, `page at ${width} px before the model`);
      release();
      await page.waitForSelector('#model-status[data-state="ready"]', { timeout: 120_000 });
      await page.setInputFiles('#image-file', join(root, 'www/models/demo/samples/00-large-red-circle-on-dark.png'));
      await page.waitForSelector('#results[data-state="done"]', { timeout: 120_000 });
      await assertFits(page, `page at ${width} px with results`);
      await page.click('#where-show');
      await page.waitForSelector('#where-figure:not([hidden])', { timeout: 120_000 });
      await assertFits(page, `page at ${width} px with a heatmap`);
      await page.screenshot({ path: join(targetDir, `e2e/readers-page-${width}-${variant}.png`), fullPage: width === 360 });
      await page.close();
    }
  });

  test(`the article example fits 320, 360 and 1280 px (${variant})`, { timeout: 300_000 }, async (t) => {
    const browser = await launchChromium({ webgpu });
    t.after(() => browser.close());
    for (const width of WIDTHS) {
      const page = await browser.newPage({ viewport: { width, height: 800 } });
      await page.goto(`${server.base}www/embed-example.html`);
      await assertFits(page, `article at ${width} px before the model`);
      await page.waitForFunction(() => document.getElementById('fixed').results, null, { timeout: 120_000 });
      await assertFits(page, `article at ${width} px with results`);
      await page.screenshot({ path: join(targetDir, `e2e/readers-article-${width}-${variant}.png`) });
      await page.close();
    }
  });
}

test('a widget whose engine cannot start says so plainly, keeps its picture and labels, and gives the author the detail', { timeout: 120_000 }, async (t) => {
  // WebGPU forced by the author, in a browser without it: the dead end the reader used to meet.
  const browser = await launchChromium({ webgpu: false });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 360, height: 700 } });
  const warnings = [];
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  await page.goto(`${server.base}www/embed-example.html`);
  await page.evaluate(() => {
    const w = document.createElement('clip-classifier');
    w.id = 'forced';
    w.setAttribute('engine', 'webgpu');
    w.setAttribute('image', 'models/demo/samples/00-large-red-circle-on-dark.png');
    w.setAttribute('labels', 'a red circle; a blue square; a yellow star');
    w.addEventListener('clip-error', (e) => (window.failure = e.detail));
    document.querySelector('article').prepend(w);
  });
  await page.waitForFunction(() => window.failure, null, { timeout: 60_000 });
  const { failure, widget } = await page.evaluate(() => {
    const root = document.getElementById('forced').shadowRoot;
    const image = root.querySelector('[part="image"]');
    return {
      failure: window.failure,
      widget: {
        status: root.querySelector('[part="status"]').textContent,
        kind: root.querySelector('[part="status"]').dataset.kind,
        detail: root.querySelector('[part="detail"] code').textContent,
        detailShown: !root.querySelector('[part="detail"]').hidden,
        image: !image.hidden && image.src,
        labels: [...root.querySelectorAll('[part="bar"]')].map((b) => b.dataset.label),
      },
    };
  });
  // The engine's own message, as src/gpu/mod.rs words it, is the author's detail.
  assert.match(failure.message, /^gpu: /);
  assert.deepEqual(forReaders(failure.message), { kind: failure.kind, reader: failure.reader, detail: failure.message });
  assert.equal(failure.kind, 'engine');
  assert.equal(widget.status, failure.reader);
  assert.doesNotMatch(widget.status, /gpu|adapter|wgpu|:/i, 'no technical words for the reader');
  assert.deepEqual([widget.detail, widget.detailShown], [failure.message, true]);
  assert.match(widget.image, /00-large-red-circle-on-dark\.png$/, 'the fixed picture is still shown');
  assert.deepEqual(widget.labels, ['a red circle', 'a blue square', 'a yellow star'], 'the labels, unscored');
  assert.ok(warnings.some((w) => w.includes(failure.message)), 'the detail is in the console');
  await page.$eval('#forced', (w) => w.shadowRoot.querySelector('[part="detail"]').setAttribute('open', ''));
  await assertFits(page, 'article at 360 px with an open error detail');
  await page.locator('#forced').screenshot({ path: join(targetDir, 'e2e/readers-widget-error-360.png') });
});

test('each kind of failure gets its sentence from the messages its sources write', () => {
  // One message per source, worded as the code that throws it (file named).
  const cases = [
    [Object.assign(new Error('signal is aborted'), { name: 'AbortError' }), 'cancelled'], // AbortController
    ['loading was cancelled', 'cancelled'], // www/worker.js
    ['http://x/m/config.json: HTTP 404 Not Found', 'missing'], // www/readers.js
    ['http://x/m.webclip: could not be fetched (Failed to fetch); check the network connection', 'network'], // www/readers.js
    ['openai/clip-vit-base-patch32: the Hub (https://huggingface.co) could not be reached (Failed to fetch); check the network connection', 'network'], // www/hub.js
    ['http://x/m.webclip: the download broke off (network error)', 'network'], // www/readers.js
    ['this model takes 4200 MB of memory with f32 weights on the CPU engine, more than the 3584 MB a WebAssembly page may use: load it with q8 or q4 weights', 'memory'], // src/model/towers.rs
    ['vision encoder: out of memory (capacity overflow)', 'memory'], // src/engine/cpu/mod.rs
    ['image bomb.png: is 100000x100000 = 10000000000 pixels, more than the 178956970 allowed', 'picture'], // src/error.rs Image
    ['notes.txt is not an image (text/plain)', 'picture'], // www/widget.js
    ['gpu: this browser has no WebGPU', 'engine'], // src/gpu/mod.rs
    ['the GPU device was lost (destroyed); the next call loads the model again', 'engine'], // www/worker.js
    ['tensor text_projection.weight: holds NaN at [1, 1] in /m/model.safetensors', 'model'], // src/error.rs Tensor
    ['config: vision_config.hidden_size is 0', 'model'], // src/error.rs Config
    ['http://x/model.safetensors: is an HTML page (a server\'s error or login page, not the weights file?), not a safetensors file', 'model'],
    ['internal error: planned 10 bytes, wrote 12', 'other'], // src/error.rs Internal
  ];
  const sentences = new Set();
  for (const [error, kind] of cases) {
    const got = forReaders(error);
    assert.equal(got.kind, kind, String(error.message ?? error));
    assert.equal(got.detail, String(error.message ?? error), 'the detail is the message, unchanged');
    assert.match(got.reader, /^[A-Z][^:]*\.$/, `${kind}: one plain sentence (or two), no colon-led detail`);
    sentences.add(got.reader);
  }
  assert.equal(sentences.size, 8, 'one sentence per kind');
});
