// The photo search page's model: downloaded once with fetch(), its weights'
// SHA-256 computed (an index names the weights it was made with), and loaded
// from those bytes as picked files, so nothing is requested again once the
// model is loaded.
//
// A model file URL (.webclip, .safetensors) is one download; a model
// directory URL (ending in '/') its four files. A Hub id is left to
// ClipModel.load (its own cache); its identity then stands for the weights'
// hash: SHA-256 of "hub <id> <commit> <weights>".

import { ClipModel } from './webclip.js';
import { sha256Hex } from './search-store.js';

const DIRECTORY_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'preprocessor_config.json'];

/**
 * `{ model, info: { name, sha256 } }` for `source` (a URL or Hub id as
 * ClipModel.load takes it). `onProgress({ loaded, total })` while downloading.
 */
export async function loadSearchModel(source, { engine, onProgress = () => {} } = {}) {
  const path = source.split(/[?#]/)[0];
  const base = document.baseURI;
  if (/\.(webclip|safetensors)$/i.test(path)) {
    const url = new URL(source, base);
    const blob = await download(url, onProgress);
    const sha256 = await sha256Hex(await blob.arrayBuffer());
    // The name only has to say "one model file" to ClipModel.load ('model.safetensors' would mean a directory's).
    let name = decodeURIComponent(url.pathname.split('/').pop());
    if (name === 'model.safetensors') name = 'model-file.safetensors';
    const model = await ClipModel.load([new File([blob], name)], { engine });
    return { model, info: { name: source, sha256 } };
  }
  if (path.endsWith('/') || /^(\.{0,2}\/|[a-z]+:)/i.test(path)) {
    const dir = new URL(path.endsWith('/') ? source : `${source}/`, base);
    const files = [];
    let sha256;
    for (const name of DIRECTORY_FILES) {
      const blob = await download(new URL(name, dir), name === 'model.safetensors' ? onProgress : () => {});
      if (name === 'model.safetensors') sha256 = await sha256Hex(await blob.arrayBuffer());
      files.push(new File([blob], name));
    }
    const model = await ClipModel.load(files, { engine });
    return { model, info: { name: source, sha256 } };
  }
  const model = await ClipModel.load(source, { engine, onProgress: ({ loaded, total }) => onProgress({ loaded, total }) });
  const { id = source, commit = '', } = model.origin ?? {};
  return { model, info: { name: source, sha256: await sha256Hex(`hub ${id} ${commit} ${model.weights}`) } };
}

/** `url`'s body as a Blob, with progress; an error names the URL and what went wrong. */
async function download(url, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url.href} could not be fetched (${e.message})`);
  }
  if (!response.ok) throw new Error(`${url.href}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  const total = Number(response.headers.get('Content-Length')) || undefined;
  if (!response.body) return response.blob();
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onProgress({ loaded, total });
    }
  } catch (e) {
    throw new Error(`${url.href}: the download broke off after ${loaded} bytes (${e.message})`);
  }
  if (total && loaded < total && !response.headers.get('Content-Encoding')) throw new Error(`${url.href}: truncated download (${loaded} of ${total} bytes)`);
  return new Blob(chunks);
}
