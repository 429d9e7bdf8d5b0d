// The page's default: the demo model trained on drawn shapes (www/models/demo/,
// tools/train_demo.py). It opens on it, its sample pictures classify with one
// click, and through the JS API it names the colour and shape of the 40
// committed test pictures (tests/fixtures/demo-shapes/: a fixed seed, not
// filtered) among every label of its vocabulary: the browser half of the check
// that the engine computes something meaningful (tests/model.rs has the native half).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINES, openPage, root, startServer, waitForModel } from './support.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

for (const engine of ENGINES) {
  test(`the page opens on the demo model and a sample classifies with one click (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { page, problems } = await openPage(t, `${server.base}?${engine.query.slice(1)}`, engine);
    await waitForModel(page);
    assert.match(await page.textContent('#model-status'), /^Loaded www\/models\/demo\/model-q4\.webclip/);
    assert.equal(await page.getAttribute('#model-status', 'data-engine'), engine.runs);
    assert.match(await page.$eval('#model-choice', (s) => s.selectedOptions[0].textContent), /^Demo: a small CLIP trained on drawn shapes/);
    await page.click('#sample-list button[aria-label="Sample: a red circle"]');
    await page.waitForSelector('#results[data-state="done"]', { timeout: 300_000 });
    const top = await page.$eval('#results .bar', (b) => b.dataset.label);
    assert.equal(top, 'a red circle');
    assert.deepEqual(problems, []);
  });
}

test('through the JS API the demo model names the drawn colour and shape', { timeout: 300_000 }, async (t) => {
  const { page } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/`, { webgpu: true });
  await waitForModel(page);
  const listing = JSON.parse(readFileSync(join(root, 'tests/fixtures/demo-shapes/labels.json'), 'utf8'));
  const got = await page.evaluate(async ({ labels, images }) => {
    const { ClipModel } = await import('/www/webclip.js');
    const model = await ClipModel.load('www/models/demo/model-q4.webclip');
    const out = {};
    for (const name of Object.keys(images)) {
      const blob = await (await fetch(`tests/fixtures/demo-shapes/${name}`)).blob();
      out[name] = (await model.classify(blob, labels, { template: 'a photo of a {}' }))[0].label;
    }
    return { top: out, encodedPrompts: model.timings.encodedPrompts };
  }, listing);
  const wrong = Object.entries(listing.images).filter(([name, label]) => got.top[name] !== label);
  const accuracy = 1 - wrong.length / Object.keys(listing.images).length;
  t.diagnostic(`demo model in Chromium: ${(100 * accuracy).toFixed(1)}% of ${Object.keys(listing.images).length}`);
  // The target for seen combinations.
  assert.ok(accuracy >= 0.95, `${(100 * accuracy).toFixed(1)}% right; wrong: ${JSON.stringify(wrong.map(([n]) => [n, got.top[n]]))}`);
  assert.equal(got.encodedPrompts, 0, 'the labels were encoded once, by the first picture');
});

// On WebGPU: the worker waits for the GPU between passes, so pictures arrive
// while a pass runs. The CPU engine holds the worker's thread for a whole call,
// so pictures sent meanwhile are read only once it is over, and go one by one.
test('pictures that wait for the engine together go through the vision tower as one batch', { timeout: 300_000 }, async (t) => {
  const { page } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/&engine=webgpu`, { webgpu: true });
  await waitForModel(page);
  const got = await page.evaluate(async () => {
    const { ClipModel } = await import('/www/webclip.js');
    const model = await ClipModel.load('www/models/demo/model-q4.webclip', { engine: 'webgpu' });
    const names = ['00-large-red-circle-on-dark.png', '01-small-blue-square-on-light.png', '02-large-yellow-star-on-dark.png'];
    const blobs = await Promise.all(names.map(async (n) => (await fetch(`www/models/demo/samples/${n}`)).blob()));
    const alone = [];
    for (const b of blobs) alone.push(Array.from(await model.embedImage(b)));
    // Keep the engine busy, then ask for the three at once: they queue behind it together.
    const busy = model.embedText(Array.from({ length: 200 }, (_, i) => `a photo of shape number ${i}`));
    const together = (await Promise.all(blobs.map((b) => model.embedImage(b)))).map((e) => Array.from(e));
    await busy;
    return { alone, together, batchedImages: model.timings.batchedImages };
  });
  assert.equal(got.batchedImages, 3, 'the three pictures shared one pass');
  const worst = Math.max(...got.together.flatMap((e, i) => e.map((v, j) => Math.abs(v - got.alone[i][j]))));
  // Rows of a batch are independent: measured identical; 1e-6 allows for a reordered sum.
  assert.ok(worst <= 1e-6, `batched embeddings differ from single ones by ${worst}`);
});
