// <clip-classifier> in an article (www/embed-example.html): three widgets on
// the demo model, counted on the server (its log sees the worker's requests),
// on WebGPU (forced through the `engine` attribute) and, in a browser without
// WebGPU, on the CPU engine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startStatic } from './hub-server.mjs';
import { ENGINES, openPage, root, startServer, targetDir } from './support.mjs';

const MODEL = '/www/models/demo/model-q4.webclip';
let server;
before(async () => {
  server = await startStatic(root);
});
after(() => server?.close());

/** Waits for widget `id`'s next result (after `since` results) and returns it. */
async function resultOf(page, id, since = 0) {
  await page.waitForFunction(([id, since]) => window.events.filter((e) => e.type === 'clip-result' && e.id === id).length > since, [id, since], { timeout: 300_000 });
  return page.evaluate((id) => window.events.filter((e) => e.type === 'clip-result' && e.id === id).at(-1).detail, id);
}

for (const engine of ENGINES) {
  test(`three widgets in an article share one model, load lazily and answer (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { page, problems } = await openPage(t, 'about:blank', engine);
    // This test's requests (the server's log also holds the other variant's).
    const first = server.requests.length;
    const requests = () => server.requests.slice(first);
    await page.addInitScript((forced) => {
      window.events = [];
      for (const type of ['clip-progress', 'clip-ready', 'clip-result', 'clip-error']) {
        document.addEventListener(type, (e) => window.events.push({ type, id: e.target.id, detail: e.detail }));
      }
      // The article's widgets as the parser adds them, before they load: an author's `engine` attribute.
      if (forced) {
        new MutationObserver((records) => {
          for (const node of records.flatMap((r) => [...r.addedNodes])) if (node.localName === 'clip-classifier') node.setAttribute('engine', forced);
        }).observe(document, { childList: true, subtree: true });
      }
    }, engine.engine);
    await page.goto(`${server.base}www/embed-example.html`);

    const fixed = await resultOf(page, 'fixed');
    assert.equal(fixed[0].label, 'a red circle');
    assert.ok(fixed.every((r, i) => i === 0 || r.score <= fixed[i - 1].score), 'highest first');
    assert.equal(await page.$eval('#fixed', (w) => w.shadowRoot.querySelector('[part="bar"]').dataset.label), 'a red circle');
    const types = await page.evaluate(() => [...new Set(window.events.filter((e) => e.id === 'fixed').map((e) => e.type))]);
    assert.deepEqual(types.sort(), ['clip-progress', 'clip-ready', 'clip-result'].sort());
    const ready = await page.evaluate(() => window.events.find((e) => e.type === 'clip-ready' && e.id === 'fixed').detail.engine);
    assert.equal(ready.name, engine.runs, ready.description);

    // Below the fold: nothing of the third widget loaded yet.
    assert.equal(requests().some((r) => r.path.includes('05-small-purple-circle')), false, 'the third widget waits for the viewport');
    await page.$eval('#heldout', (w) => w.scrollIntoView());
    const heldout = await resultOf(page, 'heldout');
    // A colour-shape pair the demo model never saw in training.
    assert.equal(heldout[0].label, 'a purple circle');

    // The weights were fetched once for all three: no byte of the model file asked twice.
    const asked = requests().filter((r) => r.path === MODEL);
    const bytes = asked.reduce((sum, r) => {
      const [, a, b] = /bytes=(\d+)-(\d+)/.exec(r.range ?? '') ?? [];
      return sum + (a === undefined ? statSync(join(root, MODEL)).size : Number(b) - Number(a) + 1);
    }, 0);
    assert.ok(bytes <= statSync(join(root, MODEL)).size * 1.1, `${bytes} bytes asked for a ${statSync(join(root, MODEL)).size}-byte file in ${asked.length} requests`);

    // A new picture with the same labels encodes no text (the worker caches label embeddings per model).
    await page.$eval('#fixed', (w) => w.setAttribute('image', 'models/demo/samples/02-large-yellow-star-on-dark.png'));
    const star = await resultOf(page, 'fixed', 1);
    assert.equal(star[0].label, 'a yellow star');
    assert.equal(await page.$eval('#fixed', (w) => w.timings.encodedPrompts), 0);

    // Editable labels re-score without an image pass; the results are announced.
    await page.$eval('#upload', (w) => w.scrollIntoView());
    await page.waitForFunction(() => window.events.some((e) => e.type === 'clip-ready' && e.id === 'upload'));
    const before = server.requests.length;
    await page.setInputFiles('#upload >> input[type=file]', join(root, 'www/models/demo/samples/03-small-green-heart-on-light.png'));
    const heart = await resultOf(page, 'upload');
    assert.equal(heart[0].label, 'a green heart');
    await page.fill('#upload >> textarea', 'a green heart\na green star');
    const edited = await resultOf(page, 'upload', 1);
    assert.deepEqual(edited.map((r) => r.label).sort(), ['a green heart', 'a green star']);
    assert.match(await page.$eval('#upload', (w) => w.shadowRoot.querySelector('[role="status"]').textContent), /^Most likely: a green heart/);
    // The reader's picture and labels stayed in the page: classifying them asked the server for nothing.
    assert.deepEqual(server.requests.slice(before), []);

    // A widget whose model fails shows it inside itself; the others are untouched.
    await page.evaluate(() => {
      const w = document.createElement('clip-classifier');
      w.id = 'broken';
      w.setAttribute('model', 'models/no-such-model.webclip');
      document.getElementById('upload').after(w); // in view: widgets start near the viewport
    });
    await page.waitForFunction(() => window.events.some((e) => e.type === 'clip-error' && e.id === 'broken'), null, { timeout: 60_000 });
    const broken = await page.$eval('#broken', (w) => ({ status: w.shadowRoot.querySelector('[part="status"]').textContent, detail: w.shadowRoot.querySelector('[part="detail"] code').textContent }));
    assert.match(broken.status, /^The model was not found/);
    assert.match(broken.detail, /no-such-model\.webclip: HTTP 404/);
    assert.equal(await page.$eval('#fixed', (w) => w.results[0].label), 'a yellow star');

    // Accessibility of the article with its widgets (axe-core checks inside shadow roots too).
    await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
    const violations = await page.evaluate(async () => (await window.axe.run(document)).violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`));
    assert.deepEqual(violations, []);

    mkdirSync(join(targetDir, 'e2e'), { recursive: true });
    for (const width of [360, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.evaluate(() => window.scrollTo(0, 0));
      // The README shows these (copied to docs/).
      await page.screenshot({ path: join(targetDir, `e2e/embed-${width}${engine.runs === 'cpu' ? '-cpu' : ''}.png`) });
    }
    assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
  });
}

test('from another origin (a CDN) the widget starts its worker through a blob: wrapper and works', { timeout: 300_000 }, async (t) => {
  // The page on one origin, webclip (with its demo model) on the static server's.
  const pageServer = await startServer();
  t.after(() => pageServer.stop());
  const { page, problems } = await openPage(t, `${pageServer.base}README.md`, { webgpu: true });
  const cdn = server.base;
  const top = await page.evaluate(async (cdn) => {
    const script = document.createElement('script');
    script.type = 'module';
    script.src = `${cdn}www/widget.js`;
    document.head.append(script);
    await customElements.whenDefined('clip-classifier');
    const widget = document.createElement('clip-classifier');
    widget.setAttribute('image', `${cdn}www/models/demo/samples/01-small-blue-square-on-light.png`);
    widget.setAttribute('labels', 'a red circle; a blue square; a yellow star');
    widget.setAttribute('template', 'a photo of {}');
    const result = new Promise((resolve, reject) => {
      widget.addEventListener('clip-result', (e) => resolve(e.detail[0].label));
      widget.addEventListener('clip-error', (e) => reject(new Error(e.detail.message)));
    });
    document.body.prepend(widget);
    return result;
  }, cdn);
  assert.equal(top, 'a blue square');
  assert.ok(server.requests.some((r) => r.path === '/www/worker.js'), 'the worker module came from the CDN origin');
  assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
});
