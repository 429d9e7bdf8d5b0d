// Models on the Hugging Face Hub, by id: `openai/clip-vit-base-patch32`, or
// `openai/clip-vit-base-patch32@<revision>` (a branch, tag or commit; `main`
// by default). Used by the worker; the page only parses ids (isHubId).
//
// One small request (`<hub>/api/models/<id>/revision/<revision>`) resolves the
// revision to a commit and lists the repo's files; every file is then read at
// that commit (`<hub>/<id>/resolve/<commit>/<file>`), so one load never mixes
// two versions, and the commit keys the cache: a new upstream version is a new
// cache entry. Resolve URLs of large files redirect to a CDN on another
// origin; both send CORS headers, including Content-Range.

import { LIMITS, bodyBytes } from './readers.js';

export const HUB = 'https://huggingface.co';

/** A converted webclip file in a repo (or under a mirror), per weight format. */
export const convertedFileName = (weights) => `model-${weights}.webclip`;

const ID = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([\w./-]+))?$/;

/**
 * `{ id, revision }` when `source` names a Hub model (`owner/name`, optionally
 * `@revision`); undefined for URLs and paths (`./x`, `/x`, `x/`, `x.webclip`,
 * `a/b/c`).
 */
export function parseHubId(source) {
  if (typeof source !== 'string') return undefined;
  const match = ID.exec(source);
  if (!match || /\.(webclip|safetensors|json)$/.test(match[1]) || match[1].includes('..')) return undefined;
  return { id: match[1], revision: match[2] ?? 'main' };
}

/** Words for an HTTP failure from the Hub: what it means and what to do. */
export function hubStatusMessage(what, response) {
  const code = response.headers.get('X-Error-Code') ?? '';
  const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  if (code === 'GatedRepo' || response.status === 403) {
    return `${what}: access refused (${status}). The repo is gated: accept its conditions on huggingface.co, then download it there and pick the files here (a page cannot send your Hugging Face token).`;
  }
  if (code === 'RepoNotFound' || code === 'RevisionNotFound' || response.status === 401 || response.status === 404) {
    const thing = code === 'RevisionNotFound' ? 'no such revision' : code === 'EntryNotFound' ? 'no such file' : 'not found';
    return `${what}: ${thing} (${status}). Check the model id and revision; private repos cannot be read from a page.`;
  }
  if (response.status === 429) return `${what}: the Hub is rate-limiting this address (${status}); try again in a few minutes.`;
  if (response.status >= 500) return `${what}: the Hub had a server error (${status}); try again later.`;
  return `${what}: ${status}`;
}

/** Marks failures where nothing answered (offline, DNS, CORS): a cached copy may serve instead. */
export class NetworkError extends Error {}

/**
 * `{ commit, files }` of `id` at `revision`: the commit the revision resolves
 * to and the repo's file names. Throws NetworkError when the Hub is unreachable.
 * `fetch`: the global one unless given (tests).
 */
export async function repoInfo(hub, { id, revision }, { signal, fetch = globalThis.fetch } = {}) {
  const url = `${hub}/api/models/${id}/revision/${encodeURIComponent(revision)}`;
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new NetworkError(`${id}: the Hub (${hub}) could not be reached (${e.message}); check the network connection`);
  }
  if (!response.ok) throw new Error(hubStatusMessage(`${id}@${revision}`, response));
  let info;
  try {
    info = JSON.parse(new TextDecoder().decode(await bodyBytes(url, response, signal, LIMITS.hubApi, "a Hub model description's limit")));
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw e instanceof SyntaxError ? new Error(`${url}: not a Hub model description (${e.message})`) : e;
  }
  if (typeof info.sha !== 'string' || !Array.isArray(info.siblings)) throw new Error(`${url}: not a Hub model description (no sha or siblings)`);
  return { commit: info.sha, files: info.siblings.map((s) => s.rfilename) };
}

export const resolveUrl = (hub, id, commit, file) => `${hub}/${id}/resolve/${commit}/${file}`;

/**
 * What to read from a repo for weights in `weights`: its converted file, or
 * else its safetensors checkpoint (quantized while loading). A repo holding
 * neither is explained.
 */
export function pickFiles({ id, files }, weights) {
  const has = (name) => files.includes(name);
  if (has(convertedFileName(weights))) return { converted: convertedFileName(weights) };
  const texts = ['config.json', 'tokenizer.json', 'preprocessor_config.json'];
  const missing = texts.filter((f) => !has(f));
  if (has('model.safetensors') && !missing.length) return { checkpoint: 'model.safetensors', texts };
  if (has('model.safetensors.index.json')) {
    throw new Error(`${id}: its weights are split in several safetensors files; convert them with \`webclip convert --model <dir> --quant ${weights}\` and load the file`);
  }
  if (has('pytorch_model.bin') && !has('model.safetensors')) {
    throw new Error(`${id}: this repo has only pytorch_model.bin (no safetensors weights): convert it with \`webclip convert\` after saving it as safetensors, and load the file`);
  }
  if (has('model.safetensors') && missing.includes('tokenizer.json') && has('spiece.model')) {
    // Google's SigLIP repos: only the SentencePiece model, which the page does not run.
    throw new Error(`${id}: this repo has spiece.model but no tokenizer.json, which webclip reads: load it from a mirror written by tools/publish-models.sh, or make tokenizer.json with tools/siglip_tokenizer_json.py and pick the files`);
  }
  if (has('model.safetensors')) throw new Error(`${id}: ${missing.join(', ')} missing from the repo (a CLIP model needs them beside model.safetensors)`);
  throw new Error(`${id}: no CLIP weights in this repo (neither model.safetensors nor ${convertedFileName(weights)})`);
}
