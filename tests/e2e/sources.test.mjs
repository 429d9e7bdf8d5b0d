// www/readers.js and www/sources.js in Node, without a browser or a GPU: the
// HTTP Range reader against a local server that misbehaves in chosen ways,
// the File reader, and Hub resolution through an injected fetch and cache.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { CHUNK, fileReader, rangeReader } from '../../www/readers.js';
import { hubSource, localSource } from '../../www/sources.js';

/** The served file: byte i is i % 251, so any slice is easy to check. */
const FILE = Uint8Array.from({ length: 3000 }, (_, i) => i % 251);
const slice = (from, to) => FILE.slice(from, to);

/** How each path answers a request for bytes `from`-`to` (inclusive). */
const BEHAVIOURS = {
  // A correct server: the asked span, clamped to the file.
  good: (from, to) => ({ status: 206, range: `bytes ${from}-${Math.min(to, 2999)}/3000`, body: slice(from, Math.min(to, 2999) + 1) }),
  // Ignores Range: the whole file with 200.
  whole: () => ({ status: 200, body: FILE }),
  // Sends bytes from 100 on whatever was asked, and says so.
  shifted: (from, to) => ({ status: 206, range: `bytes ${from + 100}-${to + 100}/3000`, body: slice(from + 100, to + 101) }),
  // Says it sent what was asked but the body stops at 1,000 bytes.
  short: (from) => ({ status: 206, range: `bytes ${from}-999/1000`, body: slice(from, 1000) }),
  // Sends 500 bytes more than asked (correct start).
  long: (from, to) => ({ status: 206, range: `bytes ${from}-${to + 500}/3000`, body: slice(from, to + 501) }),
  missing: () => ({ status: 404, body: new Uint8Array(0) }),
};

let server;
let base;
const requests = [];
before(async () => {
  server = createServer((req, res) => {
    const path = req.url.slice(1).split('/').pop();
    const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
    requests.push({ path, range: req.headers.range });
    const { status, range, body } = BEHAVIOURS[path]?.(Number(from), Number(to)) ?? { status: 404, body: new Uint8Array(0) };
    res.writeHead(status, { 'Content-Length': body.length, ...(range ? { 'Content-Range': range } : {}) });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
});
after(() => server.close());

const requestsTo = (path) => requests.filter((r) => r.path === path).map((r) => r.range);

test('a Range reader reads a correct server in chunks and keeps the last one', async () => {
  const reports = [];
  const reader = rangeReader(new URL('good', base), { progress: (p) => reports.push(p) });
  assert.equal(reader.length, undefined, 'unknown until the first answer');
  assert.deepEqual(await reader.read(10, 20), slice(10, 30));
  assert.equal(reader.length, 3000, 'from Content-Range');
  assert.deepEqual(await reader.read(2990, 10), slice(2990, 3000)); // inside the kept block: no request
  assert.deepEqual(requestsTo('good'), [`bytes=10-${10 + CHUNK - 1}`]);
  assert.equal(reports.at(-1).loaded, 2990, 'the bytes fetched, reported when the end is reached');
  assert.equal(reports.at(-1).total, 3000);
  assert.equal(reader.name, `${base}good`, 'named by its whole URL off this origin');
});

test('a Range reader refuses a 206 whose Content-Range does not start where asked', async () => {
  const reader = rangeReader(new URL('shifted', base));
  await assert.rejects(reader.read(0, 8), { message: `${base}shifted: asked for bytes 0-${CHUNK - 1}, the server sent Content-Range: bytes 100-${CHUNK + 99}/3000` });
});

test('a Range reader keeps the whole file that a 200 answer sends, and asks no more', async () => {
  const reader = rangeReader(new URL('whole', base));
  assert.deepEqual(await reader.read(5, 3), slice(5, 8));
  assert.equal(reader.length, 3000);
  assert.deepEqual(await reader.read(2000, 1000), slice(2000, 3000));
  assert.deepEqual(await reader.read(0, 1), slice(0, 1));
  assert.equal(requestsTo('whole').length, 1);
});

test('a Range reader names a body shorter than the read', async () => {
  const reader = rangeReader(new URL('short', base));
  assert.deepEqual(await reader.read(990, 10), slice(990, 1000), 'a read inside the body');
  await assert.rejects(reader.read(995, 20), { message: `${base}short: ended at 1000 bytes, 1015 needed (truncated download?)` });
});

test('a Range reader returns exactly the bytes asked when the body is longer', async () => {
  const reader = rangeReader(new URL('long', base));
  const got = await reader.read(7, 4);
  assert.equal(got.length, 4);
  assert.deepEqual(got, slice(7, 11));
  // The extra bytes are the file's and serve the next read (the chunk ended at 7 + CHUNK - 1, clamped to 3000 + 500).
  assert.deepEqual(await reader.read(2995, 5), slice(2995, 3000));
  assert.equal(requestsTo('long').length, 1);
});

test('a Range reader passes a 404 on with its status', async () => {
  await assert.rejects(rangeReader(new URL('missing', base)).read(0, 8), { status: 404, message: `${base}missing: HTTP 404 Not Found` });
});

test('a File reader reads slices and reports progress with fromCache', async () => {
  const reports = [];
  const file = new File([FILE], 'model.webclip');
  const reader = fileReader(file, { progress: (p) => reports.push(p), fromCache: true });
  assert.equal(reader.name, 'model.webclip');
  assert.equal(reader.length, 3000);
  assert.deepEqual(await reader.read(100, 50), slice(100, 150));
  assert.deepEqual(await reader.read(2900, 100), slice(2900, 3000));
  assert.equal(reports.at(-1).loaded, 150, '50 then 100 bytes');
  assert.equal(reports.at(-1).fromCache, true);
  const controller = new AbortController();
  controller.abort(new Error('stopped'));
  await assert.rejects(fileReader(file, { signal: controller.signal }).read(0, 1), { message: 'stopped' });
});

test('a directory URL reads its three small files through the given fetch', async () => {
  const asked = [];
  const fetch = async (url) => {
    asked.push(String(url));
    return new Response(new TextEncoder().encode(`{"file":"${String(url).split('/').pop()}"}`));
  };
  const source = localSource({ url: 'http://models.test/clip/' }, { weights: 'q4', fetch });
  assert.equal(source.weights, 'q4');
  assert.deepEqual(source.origin, { kind: 'url', fromCache: false });
  assert.equal(source.reader.url, 'http://models.test/clip/model.safetensors');
  const texts = await source.readTexts();
  assert.equal(texts.config, '{"file":"config.json"}');
  assert.equal(texts.preprocessor, '{"file":"preprocessor_config.json"}');
  assert.equal(new TextDecoder().decode(texts.tokenizer), '{"file":"tokenizer.json"}');
  assert.deepEqual(asked.sort(), ['config.json', 'preprocessor_config.json', 'tokenizer.json'].map((f) => `http://models.test/clip/${f}`));
});

/** A stand-in Hub (`http://hub.test`) answering from `files` (name -> body), and a stand-in cache. */
function fakeHub(files, { commit = 'c0ffee', offline = false, cached } = {}) {
  const asked = [];
  const fetch = async (url, { headers } = {}) => {
    asked.push(headers?.Range ? `${url} ${headers.Range}` : String(url));
    if (offline) throw new TypeError('fetch failed');
    if (String(url) === `http://hub.test/api/models/org/clip/revision/main`) {
      return Response.json({ sha: commit, siblings: Object.keys(files).map((rfilename) => ({ rfilename })) });
    }
    const name = String(url).replace(`http://hub.test/org/clip/resolve/${commit}/`, '');
    if (!(name in files)) return new Response('', { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    return new Response(files[name], headers?.Range ? { status: 206, headers: { 'Content-Range': `bytes 0-${files[name].length - 1}/${files[name].length}` } } : {});
  };
  const log = [];
  const store = {
    open: async (entry) => (log.push(`open ${entry.commit} ${entry.weights}`), cached),
    latest: async (query) => (log.push(`latest ${query.revision} ${query.weights}`), cached),
    begin: async (entry) => (log.push(`begin ${entry.commit} ${entry.weights}`), { sink: { source: 'sink' }, abort: async () => log.push('abort') }),
  };
  return { fetch, store, asked, log };
}

const SPEC = { id: 'org/clip', revision: 'main', hub: 'http://hub.test' };

test('a Hub id resolves to the converted file at the revision\'s commit, recorded into the cache', async () => {
  const hub = fakeHub({ 'model-q8.webclip': 'WEBCLIP!', 'model.safetensors': 'x' });
  const source = await hubSource(SPEC, { fetch: hub.fetch, store: hub.store });
  assert.equal(source.weights, 'q8', 'the default format');
  assert.equal(source.reader.url, 'http://hub.test/org/clip/resolve/c0ffee/model-q8.webclip');
  assert.deepEqual(source.origin, { kind: 'hub', id: 'org/clip', revision: 'main', commit: 'c0ffee', fromCache: false, file: source.reader.url });
  assert.equal(source.cache.sink.source, 'sink');
  assert.deepEqual(hub.log, ['open c0ffee q8', 'begin c0ffee q8']);
  assert.equal(new TextDecoder().decode(await source.reader.read(0, 8)), 'WEBCLIP!');
});

test('a Hub checkpoint is read with its three small files and quantized while loading', async () => {
  const hub = fakeHub({ 'config.json': '{"c":1}', 'tokenizer.json': '{"t":1}', 'preprocessor_config.json': '{"p":1}', 'model.safetensors': 'x' });
  const source = await hubSource(SPEC, { weights: 'q4', fetch: hub.fetch, store: hub.store });
  assert.equal(source.reader.url, 'http://hub.test/org/clip/resolve/c0ffee/model.safetensors');
  assert.equal(source.origin.quantizedHere, true);
  assert.equal(source.texts.config, '{"c":1}');
  assert.equal(source.texts.preprocessor, '{"p":1}');
  assert.deepEqual(hub.log, ['open c0ffee q4', 'begin c0ffee q4']);
});

test('a Hub model held in the cache at this commit is read from there, with no file from the network', async () => {
  const file = new File(['CACHED'], 'org_clip-q8.webclip');
  const hub = fakeHub({ 'model-q8.webclip': 'WEBCLIP!' }, { cached: { entry: { commit: 'c0ffee', weights: 'q8' }, file } });
  const source = await hubSource(SPEC, { fetch: hub.fetch, store: hub.store });
  assert.deepEqual(source.origin, { kind: 'hub', id: 'org/clip', revision: 'main', commit: 'c0ffee', fromCache: true, offline: false, bytes: 6 });
  assert.equal(new TextDecoder().decode(await source.reader.read(0, 6)), 'CACHED');
  assert.deepEqual(hub.asked, ['http://hub.test/api/models/org/clip/revision/main'], 'only the revision was asked');
});

test('offline, a Hub id loads the newest cached commit of its revision, or says the Hub is unreachable', async () => {
  const file = new File(['OLD'], 'org_clip-q8.webclip');
  const hub = fakeHub({}, { offline: true, cached: { entry: { commit: 'beef', weights: 'q8' }, file } });
  const source = await hubSource(SPEC, { fetch: hub.fetch, store: hub.store });
  assert.deepEqual(source.origin, { kind: 'hub', id: 'org/clip', revision: 'main', commit: 'beef', fromCache: true, offline: true, bytes: 3 });
  assert.deepEqual(hub.log, ['latest main q8']);
  const empty = fakeHub({}, { offline: true });
  await assert.rejects(hubSource(SPEC, { fetch: empty.fetch, store: empty.store }), { message: 'org/clip: the Hub (http://hub.test) could not be reached (fetch failed); check the network connection' });
});

test('a mirror without the model answers 404 and the Hub\'s own file is read instead', async () => {
  const hub = fakeHub({ 'model-q8.webclip': 'WEBCLIP!' });
  const fetch = (url, init) => (String(url).startsWith('http://mirror.test/') ? Promise.resolve(new Response('', { status: 404 })) : hub.fetch(url, init));
  const source = await hubSource({ ...SPEC, mirror: 'http://mirror.test/models/' }, { fetch, store: hub.store });
  assert.equal(source.origin.file, 'http://hub.test/org/clip/resolve/c0ffee/model-q8.webclip');
});

test('a repo without CLIP weights is explained, and the cache entry begun for it is dropped', async () => {
  const hub = fakeHub({ 'README.md': '#' });
  await assert.rejects(hubSource(SPEC, { fetch: hub.fetch, store: hub.store }), { message: 'org/clip: no CLIP weights in this repo (neither model.safetensors nor model-q8.webclip)' });
  assert.deepEqual(hub.log, ['open c0ffee q8', 'begin c0ffee q8', 'abort']);
});
