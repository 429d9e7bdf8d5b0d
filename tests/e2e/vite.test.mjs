// The npm package as an author gets it: `npm pack` of this repository,
// installed into a tiny Vite app (vite-app/) that imports `webclip` and
// `webclip/widget.js` by name, built, served and run in Chromium. Bundlers must
// find the worker, the wasm and the demo model through `new URL(..., import.meta.url)`.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { startStatic } from './hub-server.mjs';
import { openPage, root } from './support.mjs';

const work = mkdtempSync(join(tmpdir(), 'webclip-vite-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('the packed package works in a Vite build', { timeout: 300_000 }, async (t) => {
  const tarball = join(work, execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop());
  const app = join(work, 'app');
  cpSync(join(root, 'tests/e2e/vite-app'), app, { recursive: true });
  mkdirSync(join(app, 'public'));
  cpSync(join(root, 'www/models/demo/samples/00-large-red-circle-on-dark.png'), join(app, 'public/red.png'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { webclip: `file:${tarball}` } }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent'], { cwd: app });
  await build({ root: app, configFile: join(app, 'vite.config.mjs'), build: { outDir: join(app, 'dist') } });
  const assets = readdirSync(join(app, 'dist/assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the wasm is in the build: ${assets}`);
  assert.ok(assets.some((f) => f.endsWith('.webclip')), `the demo model is in the build: ${assets}`);

  const server = await startStatic(join(app, 'dist'));
  t.after(() => server.close());
  const { page, problems } = await openPage(t, server.base, { webgpu: true });
  await page.waitForFunction(() => window.result || window.failure, null, { timeout: 300_000 });
  const { result, failure, apiLoaded } = await page.evaluate(() => ({ result: window.result, failure: window.failure, apiLoaded: window.apiLoaded }));
  assert.equal(failure, undefined);
  assert.equal(apiLoaded, true);
  assert.equal(result[0].label, 'a red circle');
  assert.deepEqual(problems, []);
});
