// Loading by Hugging Face Hub id, against a stand-in Hub on two other origins
// (hub-server.mjs: the Hub's URL scheme, CORS, the redirect of weights to a
// CDN origin): the checkpoint quantized in the worker and cached, a reload
// that reads no weights, a new upstream commit noticed, offline use of the
// cache, a repo's converted file and a mirror preferred, cancel, and each
// failure explained and never cached. Requests are counted on the servers
// (the page's request log misses a worker's).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHub } from './hub-server.mjs';
import { classify, convert, fixture, openPage, root, startServer, targetDir, waitForModel } from './support.mjs';

const SHA = 'a'.repeat(40);
const NEW_SHA = 'b'.repeat(40);
const CONVERTED = 'target/e2e-models/hub-tiny-q8.webclip';
const MIRROR = 'target/e2e-mirror/';
const BIN_ONLY = join(root, 'target/e2e-models/bin-only');
const SPIECE_ONLY = join(root, 'target/e2e-models/spiece-only');

let server;

before(async () => {
  // What the worker must write to its cache: `webclip convert`'s file, naming the same source.
  convert(fixture, 'q8', CONVERTED, `test/tiny@${SHA}`);
  convert(fixture, 'q8', `${MIRROR}test/mirrored/model-q8.webclip`, `test/mirrored@${SHA}`);
  // An out-of-date mirror: converted from an older commit than the Hub's.
  convert(fixture, 'q8', `${MIRROR}test/stale/model-q8.webclip`, `test/stale@${NEW_SHA}`);
  mkdirSync(BIN_ONLY, { recursive: true });
  writeFileSync(join(BIN_ONLY, 'pytorch_model.bin'), 'not read');
  writeFileSync(join(BIN_ONLY, 'config.json'), readFileSync(join(fixture, 'config.json')));
  // A SigLIP repo as Google ships them: SentencePiece's model, no tokenizer.json.
  mkdirSync(SPIECE_ONLY, { recursive: true });
  for (const f of ['config.json', 'preprocessor_config.json', 'model.safetensors', 'spiece.model']) {
    writeFileSync(join(SPIECE_ONLY, f), f === 'spiece.model' ? 'not read' : readFileSync(join(root, 'tests/fixtures/tiny-siglip', f)));
  }
  server = await startServer();
});

after(() => server?.stop());

const repo = (extra = {}) => ({ dir: fixture, sha: SHA, ...extra });

/** Runs in the page: loads `id` from the stand-in Hub and classifies chelsea.png. */
async function loadAndClassify(page, id, options) {
  return page.evaluate(
    async ([id, options]) => {
      const { ClipModel, cachedModels } = await import('/www/webclip.js');
      const blob = await (await fetch('tests/fixtures/images/chelsea.png')).blob();
      try {
        const progress = [];
        const model = await ClipModel.load(id, { ...options, onProgress: (p) => progress.push(p) });
        const scores = await model.classify(blob, ['a cat', 'a dog', 'a robot'], { template: 'a photo of {}' });
        const out = { origin: model.origin, weights: model.weights, scores, cached: await cachedModels(), progress: progress.at(-1) };
        model.dispose();
        return out;
      } catch (e) {
        return { error: e.message, name: e.name, cached: await cachedModels() };
      }
    },
    [id, options],
  );
}

/** The cached model files in the page's origin private file system: name → SHA-256. */
async function cachedFiles(page) {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('webclip-models', { create: true });
    const out = {};
    for await (const [name, handle] of dir.entries()) {
      const digest = await crypto.subtle.digest('SHA-256', await (await handle.getFile()).arrayBuffer());
      out[name] = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
    }
    return out;
  });
}

const sha256 = (path) => createHash('sha256').update(readFileSync(join(root, path))).digest('hex');

test('a Hub id is quantized in the worker, cached, and a reload reads no weights', { timeout: 300_000 }, async (t) => {
  const hub = await startHub({ 'test/tiny': repo() });
  t.after(() => hub.close());
  const { page, problems } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/`, { webgpu: true });
  await waitForModel(page);

  const first = await loadAndClassify(page, 'test/tiny', { hub: hub.url });
  assert.equal(first.error, undefined, first.error);
  assert.equal(first.weights, 'q8', 'a Hub model loads as q8 by default');
  assert.deepEqual({ ...first.origin, file: undefined, source: undefined }, { kind: 'hub', id: 'test/tiny', revision: 'main', commit: SHA, fromCache: false, quantizedHere: true, cachedBytes: statSync(join(root, CONVERTED)).size, file: undefined, source: undefined });
  assert.deepEqual(first.origin.source, { kind: 'checkpoint', url: first.origin.file });
  assert.deepEqual(first.cached.map((c) => c.source), [first.origin.source], 'the cache entry records what it is a copy of');
  assert.ok(first.progress.total > 0 && first.progress.rate > 0, `progress reports total and rate: ${JSON.stringify(first.progress)}`);
  assert.ok(hub.weightRequests().length > 0);
  assert.ok(hub.requests.some((r) => r.origin === 'cdn' && r.range), 'weights come from the CDN origin with Range requests');
  // The cache holds exactly the file `webclip convert` writes from the same checkpoint.
  const files = await cachedFiles(page);
  assert.deepEqual(Object.values(files).filter((_, i) => Object.keys(files)[i].endsWith('.webclip')), [sha256(CONVERTED)]);
  // Quantizing while loading from the Hub gives what quantizing a local directory gives.
  const local = await page.evaluate(async () => {
    const { ClipModel } = await import('/www/webclip.js');
    const model = await ClipModel.load('tests/fixtures/tiny-clip/', { weights: 'q8' });
    const blob = await (await fetch('tests/fixtures/images/chelsea.png')).blob();
    return model.classify(blob, ['a cat', 'a dog', 'a robot'], { template: 'a photo of {}' });
  });
  assert.deepEqual(first.scores, local);

  hub.requests.length = 0;
  await page.reload();
  await waitForModel(page);
  const again = await loadAndClassify(page, 'test/tiny', { hub: hub.url });
  assert.equal(again.error, undefined, again.error);
  assert.equal(again.origin.fromCache, true);
  assert.deepEqual(hub.weightRequests(), [], 'the reload read no weights');
  assert.deepEqual(hub.requests.map((r) => r.path), ['/api/models/test/tiny/revision/main'], 'only the revision was resolved');
  assert.deepEqual(again.scores, first.scores, 'identical probabilities from the cache');

  // A new upstream commit is noticed: fetched again, and the old copy dropped.
  hub.requests.length = 0;
  const updated = await startHubUpdate(hub, page);
  assert.equal(updated.origin.fromCache, false);
  assert.equal(updated.origin.commit, NEW_SHA);
  assert.ok(hub.weightRequests().length > 0);
  assert.deepEqual(updated.cached.map((c) => c.commit), [NEW_SHA]);

  // Offline: the newest cached copy of the revision serves.
  await hub.close();
  const offline = await loadAndClassify(page, 'test/tiny', { hub: hub.url });
  assert.equal(offline.error, undefined, offline.error);
  assert.deepEqual([offline.origin.fromCache, offline.origin.offline, offline.origin.commit], [true, true, NEW_SHA]);
  assert.deepEqual(offline.scores, first.scores);

  // "Forget cached models" frees the storage.
  const left = await page.evaluate(async () => (await import('/www/webclip.js')).forgetCachedModels());
  assert.deepEqual(left, []);
  assert.deepEqual(await cachedFiles(page), {});

  // A model file left without its description (a tab closed mid-load) is removed when a worker starts.
  const leaveOrphan = (name) =>
    page.evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle('webclip-models', { create: true });
      const file = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await file.write(new Uint8Array(1000));
      await file.close();
    }, name);
  await leaveOrphan('test_tiny-q8-0badf00d.webclip');
  assert.deepEqual(Object.keys(await cachedFiles(page)), ['test_tiny-q8-0badf00d.webclip']);
  await page.reload();
  await waitForModel(page);
  assert.deepEqual(await page.evaluate(async () => (await import('/www/webclip.js')).cachedModels()), []);
  assert.deepEqual(await cachedFiles(page), {}, 'the orphan is gone');
  // One appearing later (as another tab's load writes) counts in the sizes, and can be forgotten.
  await leaveOrphan('test_tiny-q4-0badf00d.webclip');
  const listed = await page.evaluate(async () => (await import('/www/webclip.js')).cachedModels());
  assert.deepEqual(
    listed.map(({ key, partial, file, bytes }) => ({ key, partial, file, bytes })),
    [{ key: 'partial test_tiny-q4-0badf00d.webclip', partial: true, file: 'test_tiny-q4-0badf00d.webclip', bytes: 1000 }],
  );
  const afterForget = await page.evaluate(async (key) => (await import('/www/webclip.js')).forgetCachedModels(key), listed[0].key);
  assert.deepEqual([afterForget, await cachedFiles(page)], [[], {}]);
  assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
});

/** Moves test/tiny to a new commit and loads it again. */
async function startHubUpdate(hub, page) {
  hub.repos['test/tiny'].sha = NEW_SHA;
  return loadAndClassify(page, 'test/tiny', { hub: hub.url });
}

test("a repo's converted file, and a mirror's, come before quantizing in the worker", { timeout: 300_000 }, async (t) => {
  const hub = await startHub({
    'test/converted': repo({ files: { 'model-q8.webclip': join(root, CONVERTED) } }),
    'test/mirrored': repo(),
    'test/stale': repo(),
    'test/unreachable': repo(),
  });
  t.after(() => hub.close());
  const { page } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/`, { webgpu: true });
  await waitForModel(page);

  const converted = await loadAndClassify(page, 'test/converted', { hub: hub.url });
  assert.equal(converted.error, undefined, converted.error);
  assert.match(converted.origin.file, /\/test\/converted\/resolve\/a{40}\/model-q8\.webclip$/);
  assert.deepEqual([...new Set(hub.weightRequests().map((r) => r.path.split('/').pop()))], ['model-q8.webclip']);

  hub.requests.length = 0;
  const mirrored = await loadAndClassify(page, 'test/mirrored', { hub: hub.url, mirror: MIRROR });
  assert.equal(mirrored.error, undefined, mirrored.error);
  assert.equal(mirrored.origin.file, `${server.base}${MIRROR}test/mirrored/model-q8.webclip`);
  assert.deepEqual(hub.weightRequests(), [], 'the mirror served the weights');
  assert.deepEqual(mirrored.scores, converted.scores);
  assert.deepEqual(mirrored.cached.map((c) => c.id).sort(), ['test/converted', 'test/mirrored']);
  assert.equal(mirrored.cached.find((c) => c.id === 'test/mirrored').source.kind, 'mirror');

  // A mirror's file converted from another commit is not used, nor cached under this one: the Hub's checkpoint is.
  hub.requests.length = 0;
  const stale = await loadAndClassify(page, 'test/stale', { hub: hub.url, mirror: MIRROR });
  assert.equal(stale.error, undefined, stale.error);
  assert.match(stale.origin.mirrorSkipped, new RegExp(`test/stale/model-q8\\.webclip: converted from "test/stale@${NEW_SHA}", not from test/stale@${SHA}`));
  assert.equal(stale.origin.source.kind, 'checkpoint');
  assert.ok(hub.weightRequests().length > 0, 'the weights came from the Hub');
  assert.deepEqual(stale.scores, converted.scores);
  // A mirror that cannot be reached is skipped for the Hub too.
  const unreachable = await loadAndClassify(page, 'test/unreachable', { hub: hub.url, mirror: 'http://127.0.0.1:9/' });
  assert.equal(unreachable.error, undefined, unreachable.error);
  assert.match(unreachable.origin.mirrorSkipped ?? '', /could not be fetched/);
});

test('Hub failures are explained, never cached, and a load can be cancelled', { timeout: 300_000 }, async (t) => {
  const hub = await startHub({
    'test/tiny': repo(),
    'test/truncated': repo({ faults: ['truncated'] }),
    'test/no-range': repo({ faults: ['no-range'] }),
    'test/slow': repo({ faults: ['slow'] }),
    'test/shifted': repo({ faults: ['shifted'] }),
    'test/oversend': repo({ faults: ['oversend'] }),
    'test/changes': repo({ faults: ['changes'] }),
    'test/bin-only': { dir: BIN_ONLY, sha: SHA },
    'test/spiece-only': { dir: SPIECE_ONLY, sha: SHA },
  });
  t.after(() => hub.close());
  const { page } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/`, { webgpu: true });
  await waitForModel(page);
  const options = { hub: hub.url };

  assert.match((await loadAndClassify(page, 'test/missing', options)).error, /^test\/missing@main: not found \(HTTP 401/);
  assert.match((await loadAndClassify(page, 'test/tiny@v9', options)).error, /no such revision \(HTTP 404/);
  assert.match((await loadAndClassify(page, 'test/bin-only', options)).error, /only pytorch_model\.bin.*webclip convert/);
  assert.match((await loadAndClassify(page, 'test/spiece-only', options)).error, /spiece\.model but no tokenizer\.json.*tools\/publish-models\.sh.*tools\/siglip_tokenizer_json\.py/);
  const truncated = await loadAndClassify(page, 'test/truncated', options);
  assert.match(truncated.error, /model\.safetensors: is truncated: \d+ bytes, its header describes \d+/);
  assert.deepEqual(truncated.cached, []);
  // A server that shifts, over-sends, or replaces the file mid-load: refused, saying so, and nothing cached.
  const refused = {
    'test/shifted': /model\.safetensors: asked for bytes 0-\d+, the server sent Content-Range: bytes 64-/,
    'test/changes': /model\.safetensors: the file changed on the server during the load \(ETag "a{40}-v[12]" at first, now ETag "a{40}-v[12]"\)/,
  };
  for (const [id, message] of Object.entries(refused)) {
    const got = await loadAndClassify(page, id, options);
    assert.match(got.error ?? 'no error', message, id);
    assert.deepEqual(got.cached, [], `${id}: nothing cached`);
  }

  // `owner/name` that is the page's own model directory loads from there: nothing is asked of the Hub.
  const asked = hub.requests.length;
  const own = await page.evaluate(async (hubUrl) => {
    const base = Object.assign(document.createElement('base'), { href: '/tests/' });
    document.head.prepend(base);
    try {
      const { ClipModel } = await import('/www/webclip.js');
      const model = await ClipModel.load('fixtures/tiny-clip', { hub: hubUrl });
      model.dispose();
      return { origin: model.origin };
    } catch (e) {
      return { error: e.message };
    } finally {
      base.remove();
    }
  }, hub.url);
  assert.equal(own.error, undefined, own.error);
  assert.equal(own.origin.kind, 'url', JSON.stringify(own.origin));
  assert.deepEqual(hub.requests.slice(asked), [], 'the Hub was not asked');

  // A server that ignores Range still works (the file is read whole).
  const whole = await loadAndClassify(page, 'test/no-range', options);
  const normal = await loadAndClassify(page, 'test/tiny', options);
  assert.equal(whole.error, undefined, whole.error);
  assert.deepEqual(whole.scores, normal.scores);
  // A 206 whose body goes on past its Content-Range never hangs the load nor slips extra bytes in:
  // Chromium either fails the body or stops it at the announced length (the reader's own cut-off,
  // for other fetches, is in sources.test.mjs); either way the load fails saying so, or is exact.
  const over = await loadAndClassify(page, 'test/oversend', options);
  if (over.error) assert.match(over.error, /model\.safetensors: (the server sent more than|the download broke off)/);
  else assert.deepEqual(over.scores, normal.scores);

  const cancelled = await page.evaluate(async (hubUrl) => {
    const { ClipModel, cachedModels } = await import('/www/webclip.js');
    const controller = new AbortController();
    const load = ClipModel.load('test/slow', { hub: hubUrl, signal: controller.signal, onProgress: () => controller.abort() });
    const error = await load.then(() => undefined, (e) => e.name);
    return { error, cached: (await cachedModels()).map((c) => c.id) };
  }, hub.url);
  assert.equal(cancelled.error, 'AbortError');
  const complete = ['test/no-range', ...(over.error ? [] : ['test/oversend']), 'test/tiny'];
  assert.deepEqual(cancelled.cached.sort(), complete, 'nothing of the cancelled load is kept');
  // The worker removes the partial file once its fetch has stopped: wait for that.
  let files;
  for (let tries = 0; tries < 50; tries++) {
    files = Object.keys(await cachedFiles(page));
    if (!files.some((f) => f.startsWith('test_slow'))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(files.filter((f) => f.startsWith('test_slow')).length, 0, `no partial file left: ${files}`);

  await hub.close();
  assert.match((await loadAndClassify(page, 'test/other', options)).error, /the Hub \(http:\/\/127\.0\.0\.1:\d+\) could not be reached/);
});

test('the page loads a Hub id, says it is cached, cancels, and forgets it', { timeout: 300_000 }, async (t) => {
  const hub = await startHub({ 'test/tiny': repo(), 'test/slow': repo({ faults: ['slow'] }) });
  t.after(() => hub.close());
  // The Hub's address is the page's configuration; a link's ?hub= and ?mirror= are shown to be ignored.
  const { page } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/&hub=http://hub.invalid/&mirror=http://mirror.invalid/`, { webgpu: true, meta: { 'webclip-hub': hub.url } });
  await waitForModel(page);
  assert.match(await page.textContent('#ignored-params'), /\(\?hub=, \?mirror=\)\. The page ignores that/);
  const load = async (id) => {
    await page.fill('#model-url', id);
    await page.click('#model-load');
    await page.waitForSelector('#model-status[data-state="loading"]', { state: 'detached' }).catch(() => {});
    await waitForModel(page);
    return page.textContent('#model-status');
  };
  assert.match(await load('test/tiny'), /^Loaded test\/tiny at aaaaaaa from the Hub, kept for next time \(\d+\.\d MB\).*q8 weights/);
  await page.waitForSelector('#cached-summary:text-matches("kept in this browser: 1,")');
  const image = join(root, 'tests/fixtures/images/chelsea.png');
  const labels = ['a cat', 'a dog'];
  const first = await classify(page, image, labels, 'a photo of {}');

  hub.requests.length = 0;
  await page.reload();
  await waitForModel(page);
  assert.match(await load('test/tiny'), /^Loaded test\/tiny at aaaaaaa from this browser's cache/);
  assert.deepEqual(hub.weightRequests(), []);
  assert.deepEqual(await classify(page, image, labels, 'a photo of {}'), first);

  // Cancel: the previous model stays, no error is shown, nothing is kept.
  await page.fill('#model-url', 'test/slow');
  await page.click('#model-load');
  await page.click('#model-cancel');
  await page.waitForSelector('#model-status:text-matches("cancelled")');
  assert.equal(await page.getAttribute('#model-status', 'data-state'), 'ready');
  assert.equal(await page.isVisible('#error'), false);

  await page.click('#cached summary');
  mkdirSync(join(targetDir, 'e2e'), { recursive: true });
  await page.screenshot({ path: join(targetDir, 'e2e/page-hub.png'), fullPage: true });
  await page.click('#cached-list button[aria-label="Forget test/tiny (q8)"]');
  await page.waitForSelector('#cached-summary:text("No models kept in this browser")');
});
