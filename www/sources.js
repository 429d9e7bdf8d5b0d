// Where a model's bytes come from, resolved before the engine sees them: a
// directory or model file at a URL, files the user picked, or a Hub id (from
// the browser's cache, a mirror, the repo's converted file or its checkpoint).
// No wasm, no GPU: `fetch` and the cache `store` may be passed in (tests).
//
// A source is `{ reader, texts?, readTexts?, weights, cache?, origin }`:
// `reader` streams the weights (www/readers.js); `texts` or `readTexts()` the
// three small files (config, tokenizer, preprocessor) when the weights file
// does not hold them; `cache` records a Hub load for the next visit
// (www/model-store.js); `origin` is what `ClipModel.origin` reports.

import { HUB, NetworkError, convertedFileName, hubStatusMessage, pickFiles, repoInfo, resolveUrl } from './hub.js';
import * as modelStore from './model-store.js';
import { fileMetadata, provenanceMismatch } from './provenance.js';
import { LIMITS, fetchBytes, fileReader, rangeReader } from './readers.js';

/**
 * The source of `source` as `ClipModel.load` sends it (`{ hub }`, `{ url }`,
 * `{ fileUrl }`, `{ file }` or `{ files }`). Options: `{ weights, progress,
 * signal, fetch, store }`.
 */
export function modelSource(source, options) {
  return source.hub ? hubSource(source.hub, options) : localSource(source, options);
}

/**
 * Where a URL's or picked files' model is. A directory's three small files
 * are read (`readTexts`) before its weights are streamed.
 */
export function localSource(source, { weights, progress = () => {}, signal, fetch } = {}) {
  const origin = { kind: source.file || source.files ? 'files' : 'url', fromCache: false };
  const streamed = { progress, signal, fetch };
  if (source.fileUrl) return { reader: rangeReader(new URL(source.fileUrl), streamed), weights, origin };
  if (source.file) return { reader: fileReader(source.file, streamed), weights, origin };
  const reader = source.url
    ? rangeReader(new URL('model.safetensors', source.url), streamed)
    : fileReader(source.files.find((f) => f.name === 'model.safetensors'), streamed);
  const read = source.url
    ? (name) => fetchBytes(new URL(name, source.url), { signal, fetch, limit: LIMITS[name] })
    : (name) => pickedBytes(source.files.find((f) => f.name === name), LIMITS[name]);
  return { reader, readTexts: () => readTexts(read, progress), weights, origin };
}

/** A picked file's bytes, refused unread above `limit`. */
async function pickedBytes(file, limit) {
  if (file.size > limit) throw new Error(`${file.name}: ${file.size} bytes, more than the ${limit} such a file may be`);
  return new Uint8Array(await file.arrayBuffer());
}

/**
 * A Hub model (`hub.js`): from the cache when it holds this id's commit in
 * this weight format (or, offline, any commit of the revision); else from the
 * page's mirror when its file was converted from this very commit
 * (provenance.js), the repo's converted file, or its checkpoint quantized
 * while loading, recorded into the cache as it loads with where it came from.
 * A mirror that fails (unreachable, an error, an out-of-date file) is skipped
 * for the Hub, and `origin.mirrorSkipped` says why; one without the model
 * (404) is skipped silently.
 */
export async function hubSource({ id, revision, hub = HUB, mirror }, { weights = 'q8', progress = () => {}, signal, fetch, store = modelStore } = {}) {
  const query = { hub, id, revision, weights };
  const fromCache = ({ entry, file }, offline) => ({
    reader: fileReader(file, { progress, signal, fromCache: true }),
    weights: entry.weights,
    origin: { kind: 'hub', id, revision, commit: entry.commit, fromCache: true, offline, bytes: file.size, ...(entry.source ? { source: entry.source } : {}) },
  });
  let info;
  try {
    info = await repoInfo(hub, { id, revision }, { signal, fetch });
  } catch (e) {
    const cached = e instanceof NetworkError ? await store.latest(query).catch(() => undefined) : undefined;
    if (!cached) throw e;
    return fromCache(cached, true);
  }
  const entry = { ...query, commit: info.commit };
  const cached = await store.open(entry).catch(() => undefined);
  if (cached) return fromCache(cached, false);

  const origin = { kind: 'hub', id, revision, commit: info.commit, fromCache: false };
  const http = { progress, signal, fetch, describe: (what, response) => hubStatusMessage(what, response) };
  let found;
  if (mirror) {
    found = await fromMirror(mirror, entry, { progress, signal, fetch });
    if (found.skipped) origin.mirrorSkipped = found.skipped;
  }
  if (!found?.reader) {
    const pick = pickFiles({ id, files: info.files }, weights);
    const base = resolveUrl(hub, id, info.commit, '');
    if (pick.converted) {
      found = { reader: rangeReader(new URL(pick.converted, base), http), source: 'repo file' };
    } else {
      const texts = await readTexts((name) => fetchBytes(new URL(name, base), { ...http, limit: LIMITS[name] }), progress);
      found = { reader: rangeReader(new URL(pick.checkpoint, base), http), texts, source: 'checkpoint' };
      origin.quantizedHere = true;
    }
  }
  const { reader, texts, source } = found;
  // The cache entry names what it holds a copy of: the mirror's, the repo's file, or the checkpoint.
  origin.file = reader.url;
  origin.source = { kind: source, url: reader.url };
  let cache;
  try {
    cache = await store.begin({ ...entry, source: origin.source });
  } catch (e) {
    origin.cacheError = e.message;
  }
  return { reader, ...(texts ? { texts } : {}), weights, cache, origin };
}

/**
 * The page's mirror's converted file for `entry` when it names `entry`'s id
 * and commit as its source: `{ reader, source: 'mirror' }`; else `{ skipped }`
 * with why (undefined for a mirror that simply has no such file).
 */
async function fromMirror(mirror, entry, { progress, signal, fetch }) {
  let reader;
  try {
    reader = rangeReader(new URL(`${entry.id}/${convertedFileName(entry.weights)}`, mirror), { progress, signal, fetch });
    const mismatch = provenanceMismatch(await fileMetadata(reader), entry);
    if (!mismatch) return { reader, source: 'mirror' };
    return { skipped: `${reader.url}: ${mismatch}` };
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    if (e.status === 404) return { skipped: undefined };
    return { skipped: e.message };
  }
}

/**
 * A directory's three small files (the weights are streamed separately):
 * `{ config, tokenizer, preprocessor }`, the JSON ones as text, the tokenizer
 * as bytes.
 */
export async function readTexts(read, progress = () => {}) {
  const names = ['config.json', 'tokenizer.json', 'preprocessor_config.json'];
  const [config, tokenizer, preprocessor] = await Promise.all(names.map(read));
  progress({ loaded: 0, file: 'model.safetensors' });
  const text = new TextDecoder();
  return { config: text.decode(config), tokenizer, preprocessor: text.decode(preprocessor) };
}
