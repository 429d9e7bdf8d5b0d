// Photo search in the worker: the search indexes it holds (the engine's
// SearchIndex, src/web/search.rs) and the ops of www/protocol.js that use
// them. Pictures are embedded by the index's model in the worker's queue;
// ranking and the index file need no model and run at once.

import { init } from './wasm.js';
import { toImage } from './images.js';
import { OP } from './protocol.js';

/** The indexes, by id. */
const indexes = new Map();
let nextIndexId = 1;

function held(indexId) {
  const index = indexes.get(indexId);
  if (!index) throw new Error('this search index was disposed');
  return index;
}

function hold(index) {
  const indexId = nextIndexId++;
  indexes.set(indexId, index);
  return { indexId, info: infoOf(index) };
}

/** The index's own description, and the default near-duplicate threshold (src/search/duplicates.rs). */
function infoOf(index) {
  return { ...index.info, duplicateThreshold: index.constructor.duplicateThreshold() };
}

/**
 * The ops, given the worker's `onModel(modelId, use)` (runs `use(model)` in
 * the queue). Every picture path is the page's, relative to its folder.
 */
export function searchOps(onModel) {
  return {
    async [OP.INDEX_CREATE]({ modelId, model, root, template }) {
      const { SearchIndex } = await init();
      const dim = await onModel(modelId, async (m) => m.projectionDim);
      return hold(new SearchIndex(model.name, model.sha256, root, template, dim));
    },

    // An index file read back: untrusted; it must also fit the model it is used with.
    async [OP.INDEX_OPEN]({ modelId, bytes, name, expectSha256 }) {
      const { SearchIndex } = await init();
      const index = SearchIndex.open(new Uint8Array(bytes), name);
      const dim = await onModel(modelId, async (m) => m.projectionDim);
      const { info } = index;
      const refuse = (why) => {
        index.free();
        throw new Error(`index ${name}: ${why}`);
      };
      if (info.dim !== dim) refuse(`its embeddings have ${info.dim} values, this model's ${dim}: it was made with another model (${info.model.name})`);
      if (expectSha256 && info.model.sha256 !== expectSha256) {
        refuse(`it was made with other weights (${info.model.name}, SHA-256 ${info.model.sha256.slice(0, 12)}…): their embeddings cannot be compared with this model's`);
      }
      return hold(index);
    },

    [OP.INDEX_ENTRIES]({ indexId }) {
      return { entries: held(indexId).entries(), folders: held(indexId).folders() };
    },

    // Decoded one by one; those that fail are reported, not fatal. The rest
    // go through the vision tower together.
    [OP.INDEX_ADD]({ indexId, modelId, files }) {
      held(indexId);
      return onModel(modelId, async (model) => {
        const pictures = [];
        const added = [];
        const failed = [];
        let moved = false;
        try {
          for (const file of files) {
            try {
              pictures.push(await toImage(file.image));
              added.push(file);
            } catch (e) {
              failed.push({ path: file.path, reason: e instanceof Error ? e.message : String(e) });
            }
          }
          moved = true;
          const embeddings = pictures.length ? await model.embedImages(pictures) : [];
          const index = held(indexId);
          added.forEach((f, i) => index.insert(f.path, f.size, f.modified, embeddings[i]));
          // A file that no longer decodes leaves the index.
          index.remove(failed.map((f) => f.path));
          return { added: added.map((f) => f.path), failed, info: infoOf(index), timings: model.timings };
        } finally {
          if (!moved) pictures.forEach((p) => p.free());
        }
      });
    },

    [OP.INDEX_CHANGES]({ indexId, paths, sizes, modified }) {
      return held(indexId).changes(paths, sizes, modified);
    },

    [OP.INDEX_REMOVE]({ indexId, paths }) {
      const index = held(indexId);
      return { removed: index.remove(paths), info: infoOf(index) };
    },

    // Words through the index's template and the text tower, an example
    // picture through the vision tower, an indexed picture's stored embedding;
    // then one ranking over every picture.
    async [OP.INDEX_SEARCH]({ indexId, modelId, text, image, like, top, folder }) {
      const index = held(indexId);
      const parts = [];
      let likeMissing = false;
      if (like !== undefined) {
        const stored = index.embedding(like);
        if (!stored) likeMissing = true;
        else parts.push(stored);
      }
      if (likeMissing) throw new Error(`"${like}" is not in the index`);
      const timings = {};
      if (text !== undefined || image) {
        await onModel(modelId, async (model) => {
          if (text !== undefined) {
            const prompt = index.info.template.replaceAll('{}', text);
            parts.push((await model.embedTexts([prompt]))[0]);
            timings.textMs = model.timings.textMs;
          }
          if (image) {
            parts.push((await model.embedImages([await toImage(image)]))[0]);
            timings.imageMs = model.timings.imageMs;
          }
        });
      }
      const start = performance.now();
      const results = held(indexId).search(parts, top, folder);
      timings.rankMs = performance.now() - start;
      return { results, timings };
    },

    [OP.INDEX_DUPLICATES]({ indexId, threshold }) {
      const start = performance.now();
      const groups = held(indexId).duplicates(threshold);
      return { groups, ms: performance.now() - start };
    },

    [OP.INDEX_BYTES]({ indexId }) {
      return held(indexId).toBytes();
    },

    [OP.INDEX_DISPOSE]({ indexId }) {
      indexes.get(indexId)?.free();
      indexes.delete(indexId);
    },
  };
}
