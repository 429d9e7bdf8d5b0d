// The wasm builds (tools/build-web.sh, www/wasm.js) in a browser without WebGPU:
// on a cross-origin-isolated page the threaded build runs the CPU engine on a
// pool of web workers and gives transformers' features, exactly the one-thread
// relaxed-SIMD build's (the threads split each matmul's columns and attention's
// rows: the same sums in the same order); on a page that is not isolated the
// one-thread build runs; where relaxed SIMD does not validate, the simd128 build.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { fixture, launchChromium, readNpy, root } from './support.mjs';

const built = existsSync(join(root, 'www/pkg-threads/webclip_bg.wasm'));
const skip = built ? false : 'www/pkg-threads/ is not built (tools/build-web.sh builds it where a nightly toolchain with rust-src is installed)';

/** Largest |a - b| over two feature vectors. */
const worstOf = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

/**
 * Asserts a run's image and text features are transformers' (the page tests' bound:
 * 1e-3 on values of about 0.1-1).
 */
function assertTransformersFeatures(got) {
  const imageFeatures = readNpy(join(fixture, 'expected/image_features.npy'));
  const textFeatures = readNpy(join(fixture, 'expected/text_features.npy'));
  const dim = imageFeatures.shape[1];
  assert.ok(worstOf(got.image, imageFeatures.data.subarray(0, dim)) <= 1e-3);
  got.texts.forEach((e, i) => assert.ok(worstOf(e, textFeatures.data.subarray(i * dim, (i + 1) * dim)) <= 1e-3, `text ${i}`));
  assert.deepEqual(JSON.parse(readFileSync(join(fixture, 'expected/cases.json'), 'utf8')).texts.slice(0, 2), ['a robot', 'wall-e']);
}

/**
 * Features of chelsea.png and two texts through the JS API, on a page `isolated` or
 * not, and the wasm build that computed them. `relaxed: false` makes the worker's
 * probe of relaxed SIMD answer no, as in a browser without it (Chromium has no switch
 * to turn it off).
 */
async function run(t, isolated, { relaxed = true } = {}) {
  const server = await startStatic(root, { isolated });
  t.after(() => server.close());
  const browser = await launchChromium({ webgpu: false });
  t.after(() => browser.close());
  const context = await browser.newContext();
  if (!relaxed) await context.route('**/www/wasm-features.js', (route) => route.fulfill({ contentType: 'text/javascript', body: 'export const relaxedSimd = () => false;' }));
  const builds = new Set();
  context.on('request', (r) => {
    const build = /\/www\/(pkg[\w-]*)\/webclip_bg\.wasm$/.exec(new URL(r.url()).pathname)?.[1];
    if (build) builds.add(build);
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => ['error', 'warning'].includes(m.type()) && problems.push(m.text()));
  await page.goto(`${server.base}README.md`);
  const got = await page.evaluate(async () => {
    const { ClipModel } = await import('/www/webclip.js');
    const model = await ClipModel.load('/tests/fixtures/tiny-clip/');
    const blob = await (await fetch('/tests/fixtures/images/chelsea.png')).blob();
    return {
      isolated: crossOriginIsolated,
      cores: navigator.hardwareConcurrency,
      engine: model.engine,
      image: Array.from(await model.embedImage(blob)),
      texts: (await model.embedText(['a robot', 'wall-e'])).map((e) => Array.from(e)),
    };
  });
  // The threaded build's workers log that wasm-bindgen's init took positional arguments;
  // a text page asks for a favicon, which is not there.
  assert.deepEqual(problems.filter((p) => !/deprecated parameters for the initialization function|Failed to load resource/.test(p)), []);
  return { ...got, builds: [...builds] };
}

test('the threaded build runs the CPU engine on every core of an isolated page, with the one-thread build\'s features', { skip, timeout: 300_000 }, async (t) => {
  const threaded = await run(t, true);
  const single = await run(t, false);
  assert.deepEqual([threaded.isolated, single.isolated], [true, false]);
  assert.deepEqual([threaded.builds, single.builds], [['pkg-threads'], ['pkg-relaxed']]);
  const threads = Number(/^CPU, (\d+) threads?/.exec(threaded.engine.description)?.[1]);
  assert.equal(threads, Math.min(threaded.cores, 8), threaded.engine.description);
  assert.match(single.engine.description, /^CPU, 1 thread: /);
  t.diagnostic(`isolated: ${threaded.engine.description}; not isolated: ${single.engine.description}`);

  assert.deepEqual(threaded.image, single.image, 'image features: the same as on one thread');
  assert.deepEqual(threaded.texts, single.texts, 'text features: the same as on one thread');
  assertTransformersFeatures(threaded);
});

test('a browser without relaxed SIMD runs the simd128 build, on an isolated page too, with transformers\' features', { timeout: 300_000 }, async (t) => {
  const plain = await run(t, true, { relaxed: false });
  assert.deepEqual(plain.builds, ['pkg']);
  assert.match(plain.engine.description, /^CPU, 1 thread: /);
  assertTransformersFeatures(plain);
  // Against the relaxed build's: the same kernels but for the f32 matmul's fused
  // multiply-adds (one rounding instead of two per term). Measured 1.2e-6 on this
  // fixture; the bound is 25x that.
  const relaxed = await run(t, false);
  assert.deepEqual(relaxed.builds, ['pkg-relaxed']);
  const d = worstOf(plain.image, relaxed.image);
  t.diagnostic(`simd128 vs relaxed SIMD: image features differ by at most ${d.toExponential(2)}`);
  assert.ok(d <= 3e-5, `image features: simd128 and relaxed builds differ by ${d}`);
});
