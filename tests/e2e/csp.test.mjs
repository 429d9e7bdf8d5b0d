// The page and the widget under a strict Content-Security-Policy: no inline
// script or style attribute, no eval, wasm allowed, workers and connections to
// this origin only. Any violation fails (reported by the browser as a console
// error and as a securitypolicyviolation event).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { openPage, root, waitForModel } from './support.mjs';

const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; img-src 'self' blob: data:";
let server;
before(async () => {
  server = await startStatic(root, { htmlHeaders: { 'Content-Security-Policy': CSP } });
});
after(() => server?.close());

async function openStrict(t, path) {
  const { page, problems } = await openPage(t, 'about:blank', { webgpu: true });
  await page.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.violatedDirective}: ${e.blockedURI}`));
  });
  await page.goto(`${server.base}${path}`);
  return { page, problems };
}

test('the demo page works under a strict CSP', { timeout: 300_000 }, async (t) => {
  const { page, problems } = await openStrict(t, 'index.html');
  await waitForModel(page);
  await page.click('#sample-list button[aria-label="Sample: a yellow star"]');
  await page.waitForSelector('#results[data-state="done"]', { timeout: 300_000 });
  assert.equal(await page.$eval('#results .bar', (b) => b.dataset.label), 'a yellow star');
  await page.setInputFiles('#image-file', join(root, 'www/models/demo/samples/03-small-green-heart-on-light.png'));
  await page.waitForFunction(() => document.querySelector('#results .bar')?.dataset.label === 'a green heart', null, { timeout: 300_000 });
  assert.deepEqual(await page.evaluate(() => window.violations), []);
  assert.deepEqual(problems, []);
});

test('the article with widgets works under a strict CSP', { timeout: 300_000 }, async (t) => {
  const { page, problems } = await openStrict(t, 'www/embed-example.html');
  await page.waitForFunction(() => document.getElementById('fixed').results, null, { timeout: 300_000 });
  assert.equal(await page.$eval('#fixed', (w) => w.results[0].label), 'a red circle');
  assert.deepEqual(await page.evaluate(() => window.violations), []);
  assert.deepEqual(problems, []);
});
