// Photo search's public API: a folder's pictures indexed by a ClipModel, held
// in that model's worker (www/worker-search.js over src/web/search.rs), found
// by words, an example picture or both, grouped as near-duplicates, and
// written to and read back from one file (docs/search-index.md). Exported by
// www/webclip.js.

import { imagePayload } from './image-payload.js';
import { OP } from './protocol.js';

export class SearchIndex {
  #model;
  #indexId;
  /** The worker holding it: a model that crashed and reloaded has another. */
  #worker;

  constructor(model, { indexId, info }) {
    this.#model = model;
    this.#worker = model.worker;
    this.#indexId = indexId;
    this.#take(info);
  }

  /**
   * A new, empty index for pictures embedded by `model`.
   * @param {import('./webclip.js').ClipModel} model
   * @param {{ model: { name: string, sha256: string }, root?: string, template?: string }} options
   *   `model`: where the model was loaded from and the SHA-256 of its file (hex),
   *   recorded so an index is never used with other weights; `root`: the folder's
   *   name; `template`: what word queries are put in (default 'a photo of {}').
   */
  static async create(model, { model: modelRef, root = '', template = 'a photo of {}' }) {
    return new SearchIndex(model, await model.callWorker(OP.INDEX_CREATE, { model: modelRef, root, template }));
  }

  /**
   * An index file read back (an export, or the page's own copy): untrusted,
   * so every count, size and path in it is checked; refused if it was made
   * for embeddings of another length, or (with `expectSha256`) other weights.
   * @param {Uint8Array | ArrayBuffer | Blob} bytes
   * @param {{ name?: string, expectSha256?: string }} options `name`: how errors name the file
   */
  static async open(model, bytes, { name = 'index', expectSha256 } = {}) {
    const buffer = bytes instanceof Blob ? await bytes.arrayBuffer() : bytes instanceof ArrayBuffer ? bytes.slice(0) : bytes.slice().buffer;
    const args = { bytes: buffer, name, expectSha256 };
    return new SearchIndex(model, await model.callWorker(OP.INDEX_OPEN, args, { transfer: [buffer] }));
  }

  /** `{ model: { name, sha256 }, root, template, dim, size, duplicateThreshold }`. */
  info;
  /** How many pictures it holds. */
  size = 0;

  #take(info) {
    this.info = info;
    this.size = info.size;
  }

  #call(op, args = {}, options = {}) {
    if (this.#indexId === undefined) return Promise.reject(new Error('this search index was disposed'));
    // The worker that held it crashed (the model reloads elsewhere on its next call): the index went with it.
    if (this.#worker.broken || this.#worker !== this.#model.worker) {
      return Promise.reject(new Error('the engine restarted since this index was opened: open it again (SearchIndex.open with its saved bytes)'));
    }
    return this.#worker.call(op, { indexId: this.#indexId, modelId: this.#model.modelId, ...args }, options);
  }

  /** `[{ path, size, modified }]` (`modified`: ms since the epoch), in the order they were added. */
  async entries() {
    return (await this.#call(OP.INDEX_ENTRIES)).entries;
  }

  /** The subfolders pictures lie in ('' for the top), sorted. */
  async folders() {
    return (await this.#call(OP.INDEX_ENTRIES)).folders;
  }

  /**
   * Embeds these pictures (one vision pass for the batch) and adds them,
   * replacing any of the same path. Files that are not pictures or fail to
   * decode are reported, not fatal (and leave the index if they were in it).
   * @param {{ path: string, size: number, modified: number, image: Blob }[]} files
   *   `path`: relative to the folder, '/'-separated
   * @returns {Promise<{ added: string[], failed: { path: string, reason: string }[] }>}
   */
  async add(files) {
    const payloads = await Promise.all(files.map((f) => imagePayload(f.image)));
    const args = {
      files: files.map((f, i) => ({ path: f.path, size: f.size, modified: f.modified, image: { ...payloads[i].payload, name: f.path } })),
    };
    const { added, failed, info } = await this.#call(OP.INDEX_ADD, args, { transfer: payloads.flatMap((p) => p.transfer ?? []) });
    this.#take(info);
    return { added, failed };
  }

  /**
   * What bringing the index up to date with a folder takes: the files to
   * embed (new, or of another size or time), how many are unchanged, and the
   * indexed paths the folder no longer has.
   * @template {{ path: string, size: number, modified: number }} F
   * @param {F[]} files the folder's listing (other fields are kept)
   * @returns {Promise<{ embed: F[], kept: number, dropped: string[] }>}
   */
  async changes(files) {
    const args = { paths: files.map((f) => f.path), sizes: files.map((f) => f.size), modified: files.map((f) => f.modified) };
    const { embed, kept, dropped } = await this.#call(OP.INDEX_CHANGES, args);
    return { embed: embed.map((i) => files[i]), kept, dropped };
  }

  /** Removes these paths; how many were in the index. */
  async remove(paths) {
    const { removed, info } = await this.#call(OP.INDEX_REMOVE, { paths: [...paths] });
    this.#take(info);
    return removed;
  }

  /**
   * The pictures nearest the query, best first, with their cosine. Words go
   * through the index's template; an example picture through the vision
   * tower; `like` is an indexed picture's path ("more like this"). Given
   * several, each counts equally.
   * @param {{ text?: string, image?: Blob, like?: string, top?: number, folder?: string }} query
   *   `folder`: only pictures under this subfolder
   * @returns {Promise<{ path: string, score: number }[]>} with `timings` ({ textMs?, imageMs?, rankMs }) on the array
   */
  async search({ text, image, like, top = 50, folder = '' } = {}) {
    const words = text?.trim() ? text.trim() : undefined;
    const payload = image ? await imagePayload(image) : undefined;
    const args = { text: words, image: payload?.payload, like, top, folder };
    const { results, timings } = await this.#call(OP.INDEX_SEARCH, args, { transfer: payload?.transfer ?? [] });
    return Object.assign(results, { timings });
  }

  /**
   * Groups of near-duplicate pictures (cosine at least `threshold`, default
   * `info.duplicateThreshold`), biggest first.
   * @returns {Promise<string[][]>}
   */
  async duplicates({ threshold = this.info.duplicateThreshold } = {}) {
    return (await this.#call(OP.INDEX_DUPLICATES, { threshold })).groups;
  }

  /** The index file (docs/search-index.md), to save or export. */
  async toBytes() {
    return this.#call(OP.INDEX_BYTES);
  }

  /** Frees it in the worker. */
  dispose() {
    if (this.#indexId === undefined) return;
    this.#worker.call(OP.INDEX_DISPOSE, { indexId: this.#indexId }).catch(() => {});
    this.#indexId = undefined;
  }
}
