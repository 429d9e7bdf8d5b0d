// www/readers.js and www/sources.js in Node, without a browser or a GPU: the
// HTTP Range reader against a local server that misbehaves in chosen ways,
// the File reader, and Hub resolution through an injected fetch and cache.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { CHUNK, LIMITS, fetchBytes, fileReader, rangeReader } from '../../www/readers.js';
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
  // Its ETag changes after the first answer: the file was replaced on the server.
  versions: (from, to, n) => ({ ...BEHAVIOURS.good(from, to), etag: `"v${n === 1 ? 1 : 2}"` }),
  // The file's total length changes after the first answer.
  regrown: (from, to, n) => (n === 1 ? BEHAVIOURS.good(from, to) : { status: 206, range: `bytes ${from}-${to}/4000`, body: slice(from, to + 1) }),
  // Answers Range at first, then the whole file.
  forgets: (from, to, n) => (n === 1 ? BEHAVIOURS.good(from, to) : BEHAVIOURS.whole()),
  // The asked span's Content-Range, then a body that never stops (no Content-Length).
  endless: (from, to) => ({ status: 206, range: `bytes ${from}-${to}/100000000`, endless: true }),
};

let server;
let base;
const requests = [];
before(async () => {
  server = createServer((req, res) => {
    const path = req.url.slice(1).split('/').pop();
    const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
    requests.push({ path, range: req.headers.range });
    const n = requestsTo(path).length;
    const { status, range, body, etag, endless } = BEHAVIOURS[path]?.(Number(from), Number(to), n) ?? { status: 404, body: new Uint8Array(0) };
    const headers = { ...(range ? { 'Content-Range': range } : {}), ...(etag ? { ETag: etag } : {}) };
    if (endless) {
      res.writeHead(status, headers);
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(Buffer.alloc(65536, 1))), 2);
      return res.on('close', () => clearInterval(timer));
    }
    res.writeHead(status, { 'Content-Length': body.length, ...headers });
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

test('a Range reader refuses a 206 that sends more than was asked', async () => {
  const reader = rangeReader(new URL('long', base));
  await assert.rejects(reader.read(7, 4), { message: `${base}long: asked for bytes 7-${7 + CHUNK - 1}, the server sent Content-Range: bytes 7-${CHUNK + 506}/3000` });
});

test('a Range reader cuts off a 206 whose body goes on past its Content-Range', async () => {
  const reader = rangeReader(new URL('endless', base));
  await assert.rejects(reader.read(0, 8), { message: `${base}endless: the server sent more than 1.0 MB (its Content-Range: bytes 0-${CHUNK - 1}/100000000)` });
});

test('a Range reader pins the file: a new ETag, a new length, or a 200 after a 206 is refused', async () => {
  for (const [path, why] of [
    ['versions', 'ETag "v1" at first, now ETag "v2"'],
    ['regrown', '3000 bytes at first, now 4000'],
    ['forgets', 'it sent the whole file after answering Range requests'],
  ]) {
    const reader = rangeReader(new URL(path, base));
    // 3000 bytes in one chunk: ask past the kept block by reading from 0 again after dropping it.
    assert.deepEqual(await reader.read(0, 10), slice(0, 10));
    reader.done();
    await assert.rejects(reader.read(0, 10), { message: `${base}${path}: the file changed on the server during the load (${why}); load it again` }, path);
  }
});

test('files read whole are capped: by Content-Length before reading, else while streaming', async () => {
  const big = (headers) => async () => new Response(new Uint8Array(2 << 20), { headers });
  await assert.rejects(fetchBytes(new URL('http://x.test/config.json'), { fetch: big({ 'Content-Length': String(2 << 20) }), limit: LIMITS['config.json'] }), {
    message: 'http://x.test/config.json: the server announced 2.1 MB, more than 1.0 MB (the most this file may be)',
  });
  await assert.rejects(fetchBytes(new URL('http://x.test/config.json'), { fetch: big({}), limit: LIMITS['config.json'] }), {
    message: 'http://x.test/config.json: the server sent more than 1.0 MB (the most this file may be)',
  });
  assert.equal(LIMITS['tokenizer.json'], 64 << 20, "a SigLIP 2 tokenizer.json (34 MB) fits");
  const ok = await fetchBytes(new URL('http://x.test/config.json'), { fetch: async () => new Response('{"a":1}'), limit: LIMITS['config.json'] });
  assert.equal(new TextDecoder().decode(ok), '{"a":1}');
  await assert.rejects(fetchBytes(new URL('http://x.test/a'), { fetch: async () => new Response('x') }), /needs a size limit/);
});

test('a URL with a literal % is named as it is, not thrown at as a malformed URI', async () => {
  const reader = rangeReader(new URL('missing%zz/100%', base));
  assert.equal(reader.name, `${base}missing%zz/100%`);
  await assert.rejects(reader.read(0, 8), { status: 404 });
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
    begin: async (entry) => (log.push(`begin ${entry.commit} ${entry.weights} ${entry.source.kind}`), { sink: { source: 'sink' }, abort: async () => log.push('abort') }),
  };
  return { fetch, store, asked, log };
}

const SPEC = { id: 'org/clip', revision: 'main', hub: 'http://hub.test' };

test('a Hub id resolves to the converted file at the revision\'s commit, recorded into the cache', async () => {
  const hub = fakeHub({ 'model-q8.webclip': 'WEBCLIP!', 'model.safetensors': 'x' });
  const source = await hubSource(SPEC, { fetch: hub.fetch, store: hub.store });
  assert.equal(source.weights, 'q8', 'the default format');
  assert.equal(source.reader.url, 'http://hub.test/org/clip/resolve/c0ffee/model-q8.webclip');
  assert.deepEqual(source.origin, { kind: 'hub', id: 'org/clip', revision: 'main', commit: 'c0ffee', fromCache: false, file: source.reader.url, source: { kind: 'repo file', url: source.reader.url } });
  assert.equal(source.cache.sink.source, 'sink');
  assert.deepEqual(hub.log, ['open c0ffee q8', 'begin c0ffee q8 repo file']);
  assert.equal(new TextDecoder().decode(await source.reader.read(0, 8)), 'WEBCLIP!');
});

test('a Hub checkpoint is read with its three small files and quantized while loading', async () => {
  const hub = fakeHub({ 'config.json': '{"c":1}', 'tokenizer.json': '{"t":1}', 'preprocessor_config.json': '{"p":1}', 'model.safetensors': 'x' });
  const source = await hubSource(SPEC, { weights: 'q4', fetch: hub.fetch, store: hub.store });
  assert.equal(source.reader.url, 'http://hub.test/org/clip/resolve/c0ffee/model.safetensors');
  assert.equal(source.origin.quantizedHere, true);
  assert.equal(source.texts.config, '{"c":1}');
  assert.equal(source.texts.preprocessor, '{"p":1}');
  assert.deepEqual(hub.log, ['open c0ffee q4', 'begin c0ffee q4 checkpoint']);
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

test('a repo without CLIP weights is explained, and nothing is begun in the cache', async () => {
  const hub = fakeHub({ 'README.md': '#' });
  await assert.rejects(hubSource(SPEC, { fetch: hub.fetch, store: hub.store }), { message: 'org/clip: no CLIP weights in this repo (neither model.safetensors nor model-q8.webclip)' });
  assert.deepEqual(hub.log, ['open c0ffee q8']);
});

/** A webclip model file's first bytes: the length prefix and a header holding only `metadata`. */
function modelFileHead(metadata) {
  const json = new TextEncoder().encode(JSON.stringify({ __metadata__: metadata }));
  const bytes = new Uint8Array(8 + json.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

/** `hub`'s fetch, with `http://mirror.test/models/org/clip/model-q8.webclip` answered by `mirror(range)`. */
function withMirror(hub, mirror) {
  return (url, init) => {
    if (!String(url).startsWith('http://mirror.test/')) return hub.fetch(url, init);
    hub.asked.push(`mirror ${String(url).slice('http://mirror.test/'.length)}`);
    return mirror(init?.headers?.Range);
  };
}

/** A correct Range answer from `bytes`. */
function ranged(bytes, range) {
  const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(range);
  const stop = Math.min(Number(to), bytes.length - 1);
  return new Response(bytes.slice(Number(from), stop + 1), { status: 206, headers: { 'Content-Range': `bytes ${from}-${stop}/${bytes.length}` } });
}

test("a mirror's file is used for a Hub id only when it was converted from that id at the Hub's commit", async () => {
  const mirrored = (source) => modelFileHead({ format: 'webclip', 'webclip.version': '1', 'webclip.weights': 'q8', 'webclip.source': source });
  const spec = { ...SPEC, mirror: 'http://mirror.test/models/' };

  const hub = fakeHub({ 'model-q8.webclip': 'WEBCLIP!' });
  const current = await hubSource(spec, { fetch: withMirror(hub, async (range) => ranged(mirrored('org/clip@c0ffee'), range)), store: hub.store });
  assert.deepEqual(current.origin.source, { kind: 'mirror', url: 'http://mirror.test/models/org/clip/model-q8.webclip' });
  assert.equal(current.origin.mirrorSkipped, undefined);
  assert.deepEqual(hub.log, ['open c0ffee q8', 'begin c0ffee q8 mirror']);

  // Out of date, another model's, or another format: skipped for the repo's own file, saying why.
  for (const [head, why] of [
    [mirrored('org/clip@0ld'), 'converted from "org/clip@0ld", not from org/clip@c0ffee (the commit the Hub names now): an out-of-date or mislabelled copy'],
    [mirrored('evil/clip@c0ffee'), 'converted from "evil/clip@c0ffee", not from org/clip@c0ffee (the commit the Hub names now): an out-of-date or mislabelled copy'],
    [modelFileHead({ format: 'webclip', 'webclip.weights': 'q4', 'webclip.source': 'org/clip@c0ffee' }), 'its weights are q4, not q8'],
    [modelFileHead({}), 'not a webclip model file'],
  ]) {
    const other = fakeHub({ 'model-q8.webclip': 'WEBCLIP!' });
    const source = await hubSource(spec, { fetch: withMirror(other, async (range) => ranged(head, range)), store: other.store });
    assert.equal(source.origin.mirrorSkipped, `http://mirror.test/models/org/clip/model-q8.webclip: ${why}`);
    assert.deepEqual(source.origin.source, { kind: 'repo file', url: 'http://hub.test/org/clip/resolve/c0ffee/model-q8.webclip' });
    assert.deepEqual(other.log, ['open c0ffee q8', 'begin c0ffee q8 repo file']);
  }

  // A mirror that fails (unreachable, a server error, garbage) is skipped for the Hub; one without the model quietly.
  for (const [answer, why] of [
    [async () => Promise.reject(new TypeError('fetch failed')), /could not be fetched \(fetch failed\)/],
    [async () => new Response('', { status: 503 }), /HTTP 503/],
    [async (range) => ranged(new Uint8Array(64).fill(255), range), /not a safetensors file/],
    [async () => new Response('', { status: 404 }), undefined],
  ]) {
    const other = fakeHub({ 'model-q8.webclip': 'WEBCLIP!' });
    const source = await hubSource(spec, { fetch: withMirror(other, answer), store: other.store });
    if (why) assert.match(source.origin.mirrorSkipped, why);
    else assert.equal(source.origin.mirrorSkipped, undefined);
    assert.equal(source.origin.source.kind, 'repo file');
  }
});

test("the Hub's model description is capped", async () => {
  const hub = fakeHub({});
  const fetch = async (url, init) =>
    String(url).includes('/api/models/') ? new Response('{}', { headers: { 'Content-Length': String(17 << 20) } }) : hub.fetch(url, init);
  await assert.rejects(hubSource(SPEC, { fetch, store: hub.store }), { message: "http://hub.test/api/models/org/clip/revision/main: the server announced 18 MB, more than 17 MB (a Hub model description's limit)" });
});
