// Reliability in the browser: a GPU device lost in the middle of a call, a
// trap that takes the worker down, GPU
// and wasm memory over many calls and over loading and disposing, and what
// the page answers to bad labels and bad pictures (each with its own message,
// nothing typed lost). Expectations come from transformers' fixture outputs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fixture, openPage as open, readNpy, root, shownError, startServer, waitForModel } from './support.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

// Device loss and GPU memory are WebGPU's: those tests force it (`auto` takes
// the CPU over this machine's SwiftShader); the bad-input ones run on `auto`.
const openPage = (t, { engine } = {}) => open(t, `${server.base}?model=tests/fixtures/tiny-clip/${engine ? `&engine=${engine}` : ''}`, { webgpu: true });

/** A page that loads nothing of its own (a blank origin), with the WebGPU buffer census on before any load. */
async function openCensusPage(t) {
  const opened = await open(t, `${server.base}README.md`, { webgpu: true });
  await opened.page.evaluate(async () => (await import('/www/webclip.js')).countGpuBuffers());
  return opened;
}
const cases = JSON.parse(readFileSync(join(fixture, 'expected/cases.json'), 'utf8'));
const LABELS = cases.texts.slice(0, 3);

/** transformers' probabilities of LABELS for chelsea.png (softmax renormalised over them). */
function expectedProbs() {
  const probs = readNpy(join(fixture, 'expected/probs.npy'));
  const row = cases.images.indexOf('chelsea.png');
  const chosen = LABELS.map((_, i) => probs.data[row * probs.shape[1] + i]);
  const sum = chosen.reduce((a, b) => a + b, 0);
  return new Map(LABELS.map((label, i) => [label, chosen[i] / sum]));
}

// The page's own comparison bound (tests/e2e/page.test.mjs): 1e-3.
function assertTransformers(scores, what) {
  const want = expectedProbs();
  for (const { label, score } of scores) assert.ok(Math.abs(score - want.get(label)) <= 1e-3, `${what} ${label}: ${score} vs transformers ${want.get(label)}`);
}

test('a device lost in the middle of a call fails it clearly; the next call loads the model again and answers', { timeout: 300_000 }, async (t) => {
  const { page } = await openPage(t, { engine: 'webgpu' });
  await waitForModel(page);
  const got = await page.evaluate(async (labels) => {
    const { ClipModel, memoryUsage, simulateDeviceLoss } = await import('/www/webclip.js');
    const model = await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu' });
    const blob = await (await fetch('tests/fixtures/images/chelsea.png')).blob();
    const before = await model.classify(blob, labels);
    // Thousands of new labels take several text passes; the device goes after the first.
    const many = Array.from({ length: 3000 }, (_, i) => `label number ${i}`);
    const passes = [];
    let lost;
    const failed = await model
      .classify(blob, many, {
        onProgress: (p) => {
          passes.push(p);
          lost ??= simulateDeviceLoss();
        },
      })
      .then(() => 'it finished', (e) => e.message);
    await lost;
    const after = await model.classify(blob, labels);
    // Another model handle loaded before the loss, and a new load, work too.
    const again = await (await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu', weights: 'f32' })).classify(blob, labels);
    // Lost while idle: the next call (here through the image batching path) just loads again.
    const embedded = Array.from(await model.embedImage(blob));
    await simulateDeviceLoss();
    const reembedded = Array.from(await model.embedImage(blob));
    const drift = Math.max(...embedded.map((v, i) => Math.abs(v - reembedded[i])));
    // Forced, the engine stays WebGPU after two losses (auto would move to the CPU).
    const { gpuBuffers } = await memoryUsage();
    return { before, failed, passes, after, again, drift, gpuBuffers };
  }, LABELS);
  assert.ok(got.passes.length >= 1 && got.passes[0].done < got.passes[0].total, `the loss came mid-call: ${JSON.stringify(got.passes)}`);
  assert.match(got.failed, /^the GPU device was lost \(Destroyed.*\); the next call loads the model again$/);
  assertTransformers(got.before, 'before the loss');
  assertTransformers(got.after, 'after the loss');
  assertTransformers(got.again, 'a new load after the loss');
  assert.equal(got.drift, 0, 'the same kernels on a new device give the same embedding');
  assert.ok(got.gpuBuffers > 0, 'still on the GPU after two losses');
  // The page's own model (loaded before the loss) works too.
  const bars = await classifyOnPage(page, 'tests/fixtures/images/chelsea.png', LABELS.join('\n'));
  assertTransformers(bars, 'the page after the loss');
});

test('a trap in the worker fails the calls running, naming it; a fresh worker takes over and every model loads again', { timeout: 300_000 }, async (t) => {
  const { page } = await openPage(t);
  await waitForModel(page);
  const got = await page.evaluate(async (labels) => {
    const { ClipModel, memoryUsage, simulateCrash } = await import('/www/webclip.js');
    const blob = await (await fetch('tests/fixtures/images/chelsea.png')).blob();
    const model = await ClipModel.load('tests/fixtures/tiny-clip/');
    const picked = await ClipModel.load([new File([await (await fetch('tests/fixtures/tiny-clip/model.safetensors')).arrayBuffer()], 'model.safetensors'),
      ...(await Promise.all(['config.json', 'tokenizer.json', 'preprocessor_config.json'].map(async (n) => new File([await (await fetch(`tests/fixtures/tiny-clip/${n}`)).arrayBuffer()], n))))]);
    const before = await model.classify(blob, labels);
    // A real wasm trap while a call waits behind it in the queue.
    const running = model.classify(blob, Array.from({ length: 2000 }, (_, i) => `label number ${i}`)).then(() => 'it finished', (e) => e.message);
    const crash = await simulateCrash().then(() => 'no crash', (e) => e.message);
    const cut = await running;
    // Two calls at once after the crash share one reload.
    const [after] = await Promise.all([model.classify(blob, labels), model.embedImage(blob)]);
    const pickedAfter = await picked.classify(blob, labels);
    const fresh = await (await ClipModel.load('tests/fixtures/tiny-clip/')).classify(blob, labels);
    const { models } = await memoryUsage();
    return { before, crash, cut, after, pickedAfter, fresh, models };
  }, LABELS);
  assert.match(got.crash, /^the engine crashed \(unreachable\); it restarts, and each model loads again on its next call$/);
  assert.ok(got.cut === got.crash || got.cut === 'it finished', `the call in flight: ${got.cut}`);
  assertTransformers(got.before, 'before the crash');
  assertTransformers(got.after, 'the same model after the crash');
  assertTransformers(got.pickedAfter, 'a model from picked files after the crash');
  assertTransformers(got.fresh, 'a new load after the crash');
  assert.equal(got.models, 2, 'the new worker holds the two models reloaded (the new load shares the first)');
  // The page's own model (loaded before the crash) works too.
  const bars = await classifyOnPage(page, 'tests/fixtures/images/chelsea.png', LABELS.join('\n'));
  assertTransformers(bars, 'the page after the crash');
});

test('GPU buffers and wasm memory stay flat over many calls and over loading and disposing', { timeout: 600_000 }, async (t) => {
  const { page } = await openCensusPage(t);
  const runs = Number(process.env.WEBCLIP_ENDURANCE_RUNS ?? 150);
  const got = await page.evaluate(async (runs) => {
    const { ClipModel, memoryUsage } = await import('/www/webclip.js');
    const model = await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu' });
    const blob = await (await fetch('tests/fixtures/images/chelsea.png')).blob();
    // Fill the worker's label cache to its bound (4,096 prompts) first: from
    // then on every new label evicts an old one.
    await model.classify(blob, Array.from({ length: 4200 }, (_, i) => `warm-up label ${i}`));
    const start = await memoryUsage();
    const started = performance.now();
    for (let i = 0; i < runs; i++) {
      const scores = await model.classify(blob, [`a cat, run ${i}`, `a dog, run ${i}`, `a rocket, run ${i}`, 'a photo of a cat', `label ${i % 7}`]);
      if (Math.abs(scores.reduce((s, x) => s + x.score, 0) - 1) > 1e-6) throw new Error(`run ${i}: probabilities do not sum to 1`);
    }
    const afterRuns = await memoryUsage();
    const msPerRun = (performance.now() - started) / runs;
    // Loading and disposing (q4: a model of its own, not the page's).
    const cycle = async () => {
      const m = await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu', weights: 'q4' });
      await m.classify(blob, ['a cat', 'a dog']);
      m.dispose();
    };
    await cycle();
    const afterFirstLoad = await memoryUsage();
    for (let i = 1; i < 20; i++) await cycle();
    const afterLoads = await memoryUsage();
    return { start, afterRuns, msPerRun, afterFirstLoad, afterLoads };
  }, runs);
  t.diagnostic(`${runs} runs, ${got.msPerRun.toFixed(0)} ms each: ${JSON.stringify(got.start)} -> ${JSON.stringify(got.afterRuns)}; 20 loads: ${JSON.stringify(got.afterFirstLoad)} -> ${JSON.stringify(got.afterLoads)}`);
  assert.ok(got.start.census.buffers > 0, 'the census counts the model\'s buffers');
  // The engine's own count (Engine.gpuMemory) against WebGPU's (the census): every buffer
  // the engine makes, uniforms and readbacks included, is one it counts.
  for (const m of [got.start, got.afterRuns, got.afterLoads]) {
    assert.deepEqual([m.gpuBuffers, m.gpuBytes], [m.census.buffers, m.census.bytes], JSON.stringify(m));
  }
  const count = (m) => ({ ...m, censusBuffers: m.census.buffers, censusBytes: m.census.bytes });
  for (const key of ['gpuBuffers', 'gpuBytes', 'censusBuffers', 'censusBytes', 'wasmBytes', 'models']) {
    assert.equal(count(got.afterRuns)[key], count(got.start)[key], `${key} after ${runs} runs`);
    assert.equal(count(got.afterLoads)[key], count(got.afterFirstLoad)[key], `${key} after 20 loads and disposals`);
  }
  assert.equal(got.afterLoads.models, got.start.models, 'every disposed model is gone from the worker');
});

test('no model outlives its user: a widget whose model changes (to a failing one, twice at once) or that leaves the page, and a load cancelled as it ends', { timeout: 300_000 }, async (t) => {
  const { page } = await openCensusPage(t);
  const got = await page.evaluate(async () => {
    const { ClipModel, memoryUsage } = await import('/www/webclip.js');
    await import('/www/widget.js');
    const held = async () => {
      const { models, gpuBuffers, gpuBytes } = await memoryUsage();
      return { models, gpuBuffers, gpuBytes };
    };
    // The baseline: the WebGPU engine up (its device and kernels stay), no model held.
    (await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu', weights: 'f16' })).dispose();
    const empty = await held();
    const widget = document.createElement('clip-classifier');
    const event = (type) => new Promise((resolve) => widget.addEventListener(type, resolve, { once: true }));
    const settled = () => Promise.race([event('clip-ready'), event('clip-error')]);
    widget.setAttribute('engine', 'webgpu');
    widget.setAttribute('labels', 'a cat; a dog');
    widget.setAttribute('model', 'tests/fixtures/tiny-clip/');
    let ready = event('clip-ready');
    document.body.prepend(widget); // near the top: the widget loads once in view (the page is a long README)
    await ready;
    const one = await held();
    // To a model that fails: the one before is freed too (the widget shows the failure).
    let failed = event('clip-error');
    widget.setAttribute('model', 'tests/fixtures/no-such-model/');
    await failed;
    const afterFailure = await held();
    // Twice before the first load ends: only the last stays.
    ready = settled();
    widget.setAttribute('model', 'tests/fixtures/tiny-clip/');
    widget.setAttribute('engine', 'cpu');
    await ready;
    await new Promise((resolve) => setTimeout(resolve, 500)); // the first load ends and is freed
    const twice = await held();
    // Removed from the page.
    widget.remove();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const removed = await held();
    // A load cancelled as its last bytes arrive: whether it ends first or not, nothing stays.
    const controller = new AbortController();
    const cancelled = await ClipModel.load('tests/fixtures/tiny-clip/', {
      engine: 'webgpu',
      weights: 'q4',
      signal: controller.signal,
      onProgress: (p) => p.total && p.loaded >= p.total && controller.abort(new DOMException('stop', 'AbortError')),
    }).then((m) => (m.dispose(), 'loaded'), (e) => e.name);
    const afterCancel = await held();
    return { empty, one, afterFailure, twice, removed, cancelled, afterCancel };
  });
  t.diagnostic(JSON.stringify(got));
  assert.equal(got.one.models, 1);
  assert.ok(got.one.gpuBuffers > 0);
  assert.deepEqual(got.afterFailure, got.empty, 'a failed model change frees the model before it');
  assert.deepEqual({ ...got.twice, gpuBytes: undefined, gpuBuffers: undefined }, { models: 1, gpuBytes: undefined, gpuBuffers: undefined }, 'two changes at once leave one model');
  assert.equal(got.twice.gpuBuffers, got.empty.gpuBuffers, 'the last one asked runs on the CPU: no GPU buffer is left of the first');
  assert.deepEqual(got.removed, got.empty, 'a widget removed from the page frees its model');
  assert.deepEqual(got.afterCancel, got.empty, `a load cancelled at its end (${got.cancelled}) leaves nothing`);
});

/** Classifies on the page; returns the bars, or throws the page's error. */
async function classifyOnPage(page, image, labels) {
  await page.$eval('#results', (e) => (e.dataset.state = 'stale')); // not the last call's 'done'
  await page.fill('#labels', labels);
  await page.fill('#template', '');
  await page.setInputFiles('#image-file', []); // the same file again is a change too
  await page.setInputFiles('#image-file', join(root, image));
  await page.waitForSelector('#results[data-state="done"], #results[data-state="error"]', { state: 'attached', timeout: 600_000 });
  assert.equal(await page.getAttribute('#results', 'data-state'), 'done', await page.textContent('#error'));
  return page.$$eval('#results .bar', (bars) => bars.map((b) => ({ label: b.querySelector('.label').textContent, score: Number(b.dataset.score) })));
}

test('labels: blank lines, repeats, one label, very long and HTML labels, none, and a thousand', { timeout: 300_000 }, async (t) => {
  const { page, problems } = await openPage(t);
  await waitForModel(page);
  const image = 'tests/fixtures/images/chelsea.png';

  // Blank lines are skipped; a repeated label is scored once and listed in a note.
  let bars = await classifyOnPage(page, image, `\n${LABELS[0]}\n\n  ${LABELS[1]}\n${LABELS[2]}\n${LABELS[0]}\n`);
  assertTransformers(bars, 'with blank lines and a repeat');
  assert.equal(bars.length, 3);
  assert.equal(await page.textContent('#label-notes'), `Given more than once, scored once: “${LABELS[0]}”.`);

  // One label: probability 1, and the page says why.
  bars = await classifyOnPage(page, image, 'a cat');
  assert.deepEqual(bars, [{ label: 'a cat', score: 1 }]);
  assert.match(await page.textContent('#label-notes'), /With one label the probability is always 100%/);

  // A 10,000-character label is cut to what CLIP reads, and the page says so;
  // HTML in a label is shown as text, never parsed.
  const long = 'a very long label '.repeat(556).slice(0, 10_000);
  const html = '<img src=x onerror="window.injected=1"><b>bold</b>';
  bars = await classifyOnPage(page, image, `${long}\n${html}`);
  assert.deepEqual(bars.map((b) => b.label).sort(), [long, html].sort());
  assert.match(await page.textContent('#label-notes'), /^Longer than the 77 tokens CLIP reads, so only the beginning counts: “a very long label a very long label a ve…”\.$/);
  assert.equal(await page.$$eval('#results img, #results b', (found) => found.length), 0, 'no element made from a label');
  assert.equal(await page.evaluate(() => window.injected), undefined);

  // None: an error, and nothing typed is lost.
  await page.fill('#labels', '\n  \n');
  await page.click('#classify');
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.textContent('#error'), 'Type at least one label, one per line.');
  assert.equal(await page.inputValue('#labels'), '\n  \n');

  // A thousand: several passes, progress shown while they run.
  const thousand = Array.from({ length: 1000 }, (_, i) => `thing number ${i}`);
  await page.fill('#labels', thousand.join('\n'));
  // Recorded as it changes: on the CPU engine the passes may all be reported
  // within one frame, shown and hidden again before a poll would see them.
  await page.$eval('#label-progress', (p) => {
    window.progressShown = [];
    new MutationObserver(() => p.hidden || window.progressShown.push(p.textContent)).observe(p, { attributes: true, childList: true, subtree: true, characterData: true });
  });
  await page.$eval('#results', (e) => (e.dataset.state = 'stale'));
  await page.click('#classify');
  await page.waitForSelector('#results[data-state="done"]', { state: 'attached', timeout: 300_000 });
  const shown = await page.evaluate(() => window.progressShown);
  assert.ok(shown.length > 0, 'progress was shown');
  for (const text of shown) assert.match(text, /^Encoding labels: \d+ of 1000…$/);
  assert.equal(await page.$$eval('#results .bar', (b) => b.length), 1000);
  const sum = await page.$$eval('#results .bar', (b) => b.reduce((s, x) => s + Number(x.dataset.score), 0));
  assert.ok(Math.abs(sum - 1) <= 1e-9, `probabilities sum to ${sum}`);
  assert.equal(await page.isVisible('#label-progress'), false);
  assert.deepEqual(problems, []);
});

/** A PNG of nothing but a header claiming `width` x `height` (68 bytes). */
function pngClaiming(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const idat = Buffer.from([0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01]);
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** A baseline gray JPEG header claiming `width` x `height`, with no image data (about 90 bytes). */
function jpegClaiming(width, height) {
  const size = [height >> 8, height & 255, width >> 8, width & 255];
  return Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0, 67, 0, ...Array(64).fill(1), 0xff, 0xc0, 0, 11, 8, ...size, 1, 1, 0x11, 0, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 0x3f, 0, 0xff, 0xd9]);
}

test('bad pictures: each named with what is wrong, the labels kept, the next picture classified', { timeout: 300_000 }, async (t) => {
  const { page } = await openPage(t);
  await waitForModel(page);
  await page.fill('#labels', LABELS.join('\n'));
  const bomb = pngClaiming(100_000, 100_000);
  assert.equal(bomb.length, 68);
  const cases = [
    [{ name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) }, 'image empty.png: the file is empty'],
    [{ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are notes, not a picture') }, 'image notes.png: not a PNG, JPEG, WebP, GIF or BMP file'],
    [{ name: 'bomb.png', mimeType: 'image/png', buffer: bomb }, 'image bomb.png: is 100000x100000 = 10000000000 pixels, more than the 178956970 allowed'],
    // Refused before the browser's own JPEG decoder sees it (tests/e2e/jpeg.test.mjs).
    [{ name: 'bomb.jpg', mimeType: 'image/jpeg', buffer: jpegClaiming(65535, 65535) }, 'image bomb.jpg: is 65535x65535 = 4294836225 pixels, more than the 178956970 allowed'],
    [{ name: 'cut.png', mimeType: 'image/png', buffer: readFileSync(join(root, 'tests/fixtures/images/chelsea.png')).subarray(0, 500) }, 'image cut.png: could not decode'],
  ];
  for (const [file, message] of cases) {
    await page.$eval('#results', (e) => (e.dataset.state = 'stale'));
    await page.setInputFiles('#image-file', file);
    await page.waitForSelector('#results[data-state="error"]', { state: 'attached', timeout: 60_000 });
    const shown = await shownError(page);
    assert.ok(shown.kind === 'picture' && shown.detail.startsWith(message), `${file.name}: ${JSON.stringify(shown)}`);
    assert.equal(await page.inputValue('#labels'), LABELS.join('\n'));
    // A bomb is refused from its header before the browser's own decoder could preview it.
    if (file.name.startsWith('bomb')) assert.equal(await page.$eval('#preview', (p) => p.hidden && !p.getAttribute('src')), true, `${file.name}: not previewed`);
  }
  // A 1x1 picture is a picture: CLIP sees one colour.
  const onePixel = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
  await page.$eval('#results', (e) => (e.dataset.state = 'stale'));
  await page.setInputFiles('#image-file', { name: 'pixel.png', mimeType: 'image/png', buffer: Buffer.from(onePixel, 'base64') });
  await page.waitForSelector('#results[data-state="done"]', { timeout: 60_000 });
  assert.equal(await page.$$eval('#results .bar', (b) => b.length), 3);
  const bars = await classifyOnPage(page, 'tests/fixtures/images/chelsea.png', LABELS.join('\n'));
  assertTransformers(bars, 'after the bad pictures');
  assert.equal(await page.isVisible('#error'), false);
});

/** A copy of the tiny fixture under target/ (served) whose weights file is `weights`: its URL path. */
function brokenModel(name, weights) {
  const dir = join(root, 'target/e2e-bad', name); // served: under the repository
  mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'preprocessor_config.json']) copyFileSync(join(fixture, f), join(dir, f));
  writeFileSync(join(dir, 'model.safetensors'), weights);
  return `target/e2e-bad/${name}/`;
}

test('bad weights: the page, the JS API and a widget each name the file and what is wrong', { timeout: 300_000 }, async (t) => {
  const html = brokenModel('html', '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>');
  // NaN in the text projection: refused at load, not shown as NaN probabilities.
  const weights = readFileSync(join(fixture, 'model.safetensors'));
  const headerLength = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + headerLength).toString('utf8'));
  const nan = Buffer.from(weights);
  nan.writeFloatLE(NaN, 8 + headerLength + header['text_projection.weight'].data_offsets[0] + 4 * 17);
  const nanModel = brokenModel('nan', nan);
  const { page } = await openPage(t);
  await waitForModel(page);
  await page.fill('#labels', 'kept');
  for (const [url, message] of [
    [html, `${html}model.safetensors: is an HTML page (a server's error or login page, not the weights file?), not a safetensors file`],
    [nanModel, `tensor text_projection.weight: holds NaN at [1, 1] in /${nanModel}model.safetensors`],
  ]) {
    await page.fill('#model-url', url);
    await page.click('#model-load');
    await page.waitForSelector('#error:not([hidden])');
    const shown = await shownError(page);
    assert.ok(shown.kind === 'model' && shown.detail.includes(message), JSON.stringify(shown));
    assert.equal(await page.getAttribute('#model-status', 'data-state'), 'ready', 'the previous model stays in use');
    assert.equal(await page.inputValue('#labels'), 'kept');
    await page.$eval('#error', (e) => (e.hidden = true));
  }
  const api = await page.evaluate((url) => import('/www/webclip.js').then(({ ClipModel }) => ClipModel.load(url).then(() => 'loaded', (e) => e.message)), html);
  assert.match(api, /model\.safetensors: is an HTML page/);
  const widget = await page.evaluate(async (url) => {
    await import('/www/widget.js');
    const w = document.createElement('clip-classifier');
    w.setAttribute('model', url);
    document.body.prepend(w);
    w.scrollIntoView(); // the widget loads once near the viewport, and the page's error scrolled it away
    const root = w.shadowRoot;
    return new Promise((resolve) => w.addEventListener('clip-error', (e) => resolve({ ...e.detail, status: root.querySelector('[part="status"]').textContent, detail: root.querySelector('[part="detail"] code').textContent })));
  }, nanModel);
  // The reader gets the plain sentence, the author the message (event and disclosure).
  assert.ok([widget.message, widget.detail].every((m) => m.includes('tensor text_projection.weight: holds NaN at [1, 1]')), JSON.stringify(widget));
  assert.deepEqual([widget.kind, widget.status], ['model', widget.reader]);
});

test('calls from many callers at once are queued, never mixed; disposing during a call ends it cleanly', { timeout: 300_000 }, async (t) => {
  const { page } = await openCensusPage(t);
  const got = await page.evaluate(async () => {
    const { ClipModel, memoryUsage } = await import('/www/webclip.js');
    const pictures = await Promise.all(['chelsea.png', 'astronaut.png', 'rocket.jpg', 'coffee.png'].map(async (f) => (await fetch(`tests/fixtures/images/${f}`)).blob()));
    const model = await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu' });
    const job = (i) => [pictures[i % 4], [`a cat ${i % 3}`, `a rocket ${i % 5}`, 'a person']];
    // Twelve callers at once (as widgets on one page would), then each alone.
    const together = await Promise.all(Array.from({ length: 12 }, (_, i) => model.classify(...job(i))));
    const alone = [];
    for (let i = 0; i < 12; i++) alone.push(await model.classify(...job(i)));
    // A model of its own, disposed while a long call on it runs.
    const own = await ClipModel.load('tests/fixtures/tiny-clip/', { engine: 'webgpu', weights: 'f16' });
    const before = await memoryUsage();
    // Disposed once its first text pass is done: the worker is in the middle of it.
    const running = own
      .classify(pictures[0], Array.from({ length: 2000 }, (_, i) => `thing ${i}`), { onProgress: () => own.dispose() })
      .then((s) => `finished with ${s.length} scores`, (e) => e.message);
    await running;
    const afterDispose = await own.classify(pictures[0], ['x']).then(() => 'ran', (e) => e.message);
    const ended = await running;
    const after = await memoryUsage();
    const stillWorks = (await model.classify(...job(0)))[0].label;
    return { together, alone, ended, afterDispose, before, after, stillWorks };
  });
  for (let i = 0; i < 12; i++) {
    // The same call alone gives the same numbers: no pass of another caller leaked in.
    assert.deepEqual(got.together[i], got.alone[i], `caller ${i}`);
  }
  assert.equal(got.ended, 'finished with 2000 scores', 'a call already running finishes');
  assert.equal(got.afterDispose, 'this model was disposed');
  assert.equal(got.after.models, got.before.models - 1);
  assert.ok(got.after.gpuBytes < got.before.gpuBytes, `the disposed model's buffers are freed: ${got.before.gpuBytes} -> ${got.after.gpuBytes} bytes`);
  assert.equal(got.stillWorks, got.alone[0][0].label);
  t.diagnostic(`disposed during a call: ${got.ended}; GPU ${got.before.gpuBytes} -> ${got.after.gpuBytes} bytes`);
});

test('the buffer census is opt-in: refused once the worker runs, and memoryUsage answers without it', { timeout: 300_000 }, async (t) => {
  const { page } = await openPage(t, { engine: 'webgpu' });
  await waitForModel(page); // the page's own load started the worker, without the census
  const got = await page.evaluate(async () => {
    const { countGpuBuffers, memoryUsage } = await import('/www/webclip.js');
    const refused = await Promise.resolve().then(countGpuBuffers).then(() => 'counting', (e) => e.message);
    return { refused, memory: await memoryUsage() };
  });
  assert.match(got.refused, /^countGpuBuffers\(\) must come before webclip's worker starts/);
  assert.equal(got.memory.census, undefined, 'no census on an ordinary page');
  assert.equal(got.memory.models, 1);
  assert.ok(got.memory.wasmBytes > 0, JSON.stringify(got.memory));
  assert.ok(got.memory.gpuBuffers > 0 && got.memory.gpuBytes > 0, `the engine counts its buffers without the census: ${JSON.stringify(got.memory)}`);
});

test("bench.html refuses a link's absurd sample count instead of running for days", { timeout: 120_000 }, async (t) => {
  const { page } = await open(t, `${server.base}www/bench.html?auto=1&samples=1e9`, { webgpu: false });
  await page.waitForFunction(() => window.benchError, null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => window.benchError), 'samples: "1e9" is not a whole number from 1 to 100');
});
