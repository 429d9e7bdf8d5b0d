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
import { fetchBytes, fileReader, rangeReader } from './readers.js';

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
    ? (name) => fetchBytes(new URL(name, source.url), { signal, fetch })
    : (name) => source.files.find((f) => f.name === name).arrayBuffer().then((b) => new Uint8Array(b));
  return { reader, readTexts: () => readTexts(read, progress), weights, origin };
}

/**
 * A Hub model (`hub.js`): from the cache when it holds this id's commit in
 * this weight format (or, offline, any commit of the revision); else from a
 * mirror of converted files, the repo's converted file, or its checkpoint
 * quantized while loading, recorded into the cache as it loads.
 */
export async function hubSource({ id, revision, hub = HUB, mirror }, { weights = 'q8', progress = () => {}, signal, fetch, store = modelStore } = {}) {
  const query = { hub, id, revision, weights };
  const fromCache = ({ entry, file }, offline) => ({
    reader: fileReader(file, { progress, signal, fromCache: true }),
    weights: entry.weights,
    origin: { kind: 'hub', id, revision, commit: entry.commit, fromCache: true, offline, bytes: file.size },
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
  let cache;
  try {
    cache = await store.begin(entry);
  } catch (e) {
    origin.cacheError = e.message;
  }
  try {
    if (mirror) {
      const reader = rangeReader(new URL(`${id}/${convertedFileName(weights)}`, mirror), { progress, signal, fetch });
      // The first read fetches the header's block; a mirror without this model answers 404.
      const found = await reader.read(0, 8).then(() => true, (e) => (e.status === 404 ? false : Promise.reject(e)));
      if (found) return { reader, weights, cache, origin: { ...origin, file: reader.url } };
    }
    const pick = pickFiles({ id, files: info.files }, weights);
    const base = resolveUrl(hub, id, info.commit, '');
    if (pick.converted) {
      const reader = rangeReader(new URL(pick.converted, base), http);
      return { reader, weights, cache, origin: { ...origin, file: reader.url } };
    }
    const texts = await readTexts((name) => fetchBytes(new URL(name, base), http), progress);
    const reader = rangeReader(new URL(pick.checkpoint, base), http);
    return { reader, texts, weights, cache, origin: { ...origin, file: reader.url, quantizedHere: true } };
  } catch (e) {
    await cache?.abort();
    throw e;
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
