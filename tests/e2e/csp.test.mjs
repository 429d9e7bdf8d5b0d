// The page and the widget under a strict Content-Security-Policy: no inline
// script or style attribute, no eval, wasm allowed, workers and connections to
// this origin only. Any violation fails (reported by the browser as a console
// error and as a securitypolicyviolation event).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { openPage, root, targetDir, waitForModel } from './support.mjs';

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

test('webclip from another origin starts its worker on a page that enforces Trusted Types', { timeout: 300_000 }, async (t) => {
  // The library on a second origin, as from a CDN: the worker starts from a blob: wrapper, through webclip's policy.
  const cdn = await startStatic(root);
  t.after(() => cdn.close());
  const lib = cdn.base.slice(0, -1);
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${lib} 'nonce-tt' 'wasm-unsafe-eval'`,
    // The blob: wrapper, and the modules it imports: Chromium checks a module worker's imports against worker-src.
    `worker-src blob: ${lib}`,
    `connect-src 'self' ${lib}`,
    "require-trusted-types-for 'script'",
    'trusted-types webclip',
  ].join('; ');
  // A real file from a real server: a page Playwright fulfils itself counts as public, and may not read localhost.
  mkdirSync(join(targetDir, 'e2e'), { recursive: true });
  const html = join(targetDir, 'e2e', 'trusted-types.html');
  writeFileSync(html, `<!doctype html><title>Trusted Types</title><script type="module" nonce="tt">
    import { ClipModel } from '${cdn.base}www/webclip.js';
    try {
      const model = await ClipModel.load('${cdn.base}tests/fixtures/tiny-clip/');
      const [features] = await model.embedText(['a photo of a cat']);
      window.result = { length: features.length, dim: model.projectionDim };
    } catch (e) {
      window.result = { error: e.message };
    }
  </script>`);
  const site = await startStatic(dirname(html), { htmlHeaders: { 'Content-Security-Policy': csp } });
  t.after(() => site.close());
  const { page, problems } = await openPage(t, 'about:blank', { webgpu: false });
  await page.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.violatedDirective}: ${e.blockedURI}`));
  });
  await page.goto(`${site.base}trusted-types.html`);
  await page.waitForFunction(() => window.result, null, { timeout: 300_000 });
  const result = await page.evaluate(() => window.result);
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.length, result.dim);
  assert.deepEqual(await page.evaluate(() => window.violations), []);
  // The page's own site serves only the page: its favicon.ico is a 404.
  assert.deepEqual(problems.filter((p) => !/Failed to load resource: the server responded with a status of 404/.test(p)), []);
  assert.deepEqual(site.requests.map((r) => r.path).filter((p) => p !== '/trusted-types.html'), ['/favicon.ico']);
  assert.ok(cdn.requests.some((r) => r.path === '/www/worker.js'), "the worker came from the library's origin");
});
