// Models kept for the next visit, in the origin private file system (OPFS):
// the webclip model file of what a Hub load read (quantized as loaded), so a
// later load of the same id, commit and weight format reads no weights from
// the network. Worker-only (it writes through synchronous access handles).
//
// Directory `webclip-models/`, per entry:
//   <name>.webclip  the model file, written at each tensor's offset as the load goes
//   <name>.json     its description, written last: an entry exists only once
//                   this does and the model file has the length it states.
// A load that fails, is cancelled or cannot finish writing leaves no entry.

const DIR = 'webclip-models';

async function directory() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

/** The cache key of a model: where it came from, which version, which format. */
export const keyOf = ({ hub, id, commit, weights }) => `${hub} ${id} ${commit} ${weights}`;

/** A file name for `key`: readable, and unique through a hash of the whole key. */
function nameOf(entry) {
  const key = keyOf(entry);
  let hash = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return `${entry.id.replace(/[^\w.-]/g, '_')}-${entry.weights}-${hash.toString(16).padStart(8, '0')}`;
}

async function readJson(dir, file) {
  try {
    return JSON.parse(await (await (await dir.getFileHandle(file)).getFile()).text());
  } catch {
    return undefined;
  }
}

async function removeFiles(dir, name) {
  for (const file of [`${name}.json`, `${name}.webclip`]) {
    await dir.removeEntry(file).catch(() => {});
  }
}

/**
 * Every complete entry, newest first: `{ key, hub, id, revision, commit,
 * weights, source, bytes, savedAt }`. Entries whose model file is missing or of the
 * wrong length are removed on the way.
 */
export async function list() {
  await sweepOnce();
  const dir = await directory();
  const entries = [];
  for await (const [file] of dir.entries()) {
    if (!file.endsWith('.json')) continue;
    const name = file.slice(0, -'.json'.length);
    const entry = await readJson(dir, file);
    const size = await dir.getFileHandle(`${name}.webclip`).then((h) => h.getFile()).then((f) => f.size, () => -1);
    if (!entry || size !== entry.bytes) {
      await removeFiles(dir, name);
      continue;
    }
    entries.push({ ...entry, key: keyOf(entry) });
  }
  return entries.sort((a, b) => b.savedAt - a.savedAt);
}

/** The model files in `dir` without their description (`<name>.json`). */
async function undescribed(dir) {
  const names = new Set();
  for await (const [file] of dir.entries()) names.add(file);
  return [...names].filter((file) => file.endsWith('.webclip') && !names.has(`${file.slice(0, -'.webclip'.length)}.json`));
}

/**
 * Removes the model files left without their description (a tab closed or a
 * worker ended mid-load): never listed, they would hold their space forever.
 * A file another tab is writing now is locked (its access handle) and stays.
 * Returns the names removed.
 */
async function sweep() {
  if (!navigator.storage?.getDirectory) return [];
  const dir = await directory();
  const removed = [];
  for (const file of await undescribed(dir)) {
    try {
      await dir.removeEntry(file);
      removed.push(file);
    } catch {
      // Being written by another tab's load: its own to finish or abort.
    }
  }
  return removed;
}

let swept;
/**
 * The sweep, run once per worker (it starts one as it starts): every other
 * function here waits for it, so it never races a load with that load's file.
 */
export function sweepOnce() {
  swept ??= sweep().catch(() => []);
  return swept;
}

const PARTIAL = 'partial ';

/**
 * Model files without their description that outlived the sweep: being written
 * now (a load in this or another tab). They take space, so `cachedModels()`
 * lists them beside the complete entries: `{ key, partial: true, file, bytes,
 * savedAt }`. One whose size cannot be read (locked by another tab's access
 * handle, where the browser refuses even reading) is left out.
 */
export async function partials() {
  await sweepOnce();
  const dir = await directory();
  const found = [];
  for (const file of await undescribed(dir)) {
    const blob = await dir.getFileHandle(file).then((h) => h.getFile(), () => undefined);
    if (blob) found.push({ key: `${PARTIAL}${file}`, partial: true, file, bytes: blob.size, savedAt: blob.lastModified });
  }
  return found;
}

/** The model file (a File) of the entry matching `query`'s key, if complete. */
export async function open(query) {
  await sweepOnce();
  const dir = await directory();
  const name = nameOf(query);
  const entry = await readJson(dir, `${name}.json`);
  if (!entry || keyOf(entry) !== keyOf(query)) return undefined;
  const file = await (await dir.getFileHandle(`${name}.webclip`)).getFile().catch(() => undefined);
  return file?.size === entry.bytes ? { entry, file } : undefined;
}

/** The newest entry of `id` at `revision` in `weights`, whatever its commit (for offline use). */
export async function latest({ hub, id, revision, weights }) {
  const found = (await list()).find((e) => e.hub === hub && e.id === id && e.revision === revision && e.weights === weights);
  return found && open(found);
}

/**
 * Removes the entry of `key` (a partial file too, unless it is being written
 * now); whether it did.
 */
export async function remove(key) {
  const dir = await directory();
  if (key.startsWith(PARTIAL)) {
    const partial = (await partials()).find((p) => p.key === key);
    return Boolean(partial) && dir.removeEntry(partial.file).then(() => true, () => false);
  }
  const entry = (await list()).find((e) => e.key === key);
  if (entry) await removeFiles(dir, nameOf(entry));
  return Boolean(entry);
}

export async function clear() {
  await sweepOnce();
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(DIR, { recursive: true }).catch(() => {});
}

/**
 * Starts writing the entry `{ hub, id, revision, commit, weights, source }`:
 * `{ sink, commit(bytes), abort(), failure }`. `sink.write(offset, bytes)`
 * never throws: the first failure (a full disk, a quota) is kept in `failure`
 * and the load goes on uncached. `commit()`, called once the engine has
 * written every tensor and then the header, writes the description and drops
 * older commits of the same id, revision and weights. Throws when this
 * browser offers no origin private file system.
 */
export async function begin(entry) {
  if (!navigator.storage?.getDirectory) throw new Error('this browser has no origin private file system');
  await sweepOnce();
  const dir = await directory();
  const name = nameOf(entry);
  await removeFiles(dir, name);
  const access = await (await dir.getFileHandle(`${name}.webclip`, { create: true })).createSyncAccessHandle();
  let closed = false;
  const close = () => {
    if (!closed) access.close();
    closed = true;
  };
  const writer = {
    failure: undefined,
    sink: {
      source: `${entry.id}@${entry.commit}`,
      write(offset, bytes) {
        if (writer.failure) return;
        try {
          const n = access.write(bytes, { at: offset });
          if (n !== bytes.length) throw new Error(`${n} of ${bytes.length} bytes written`);
        } catch (e) {
          writer.failure = e.message || String(e);
        }
      },
    },
    async commit() {
      try {
        if (writer.failure) throw new Error(writer.failure);
        access.flush();
        const bytes = access.getSize();
        close();
        // `source`: what this is a copy of ({ kind: 'mirror' | 'repo file' | 'checkpoint', url }).
        const description = { hub: entry.hub, id: entry.id, revision: entry.revision, commit: entry.commit, weights: entry.weights, source: entry.source, bytes, savedAt: Date.now() };
        const json = await (await dir.getFileHandle(`${name}.json`, { create: true })).createSyncAccessHandle();
        json.truncate(0);
        json.write(new TextEncoder().encode(JSON.stringify(description)), { at: 0 });
        json.flush();
        json.close();
        for (const old of await list()) {
          if (old.hub === entry.hub && old.id === entry.id && old.revision === entry.revision && old.weights === entry.weights && old.commit !== entry.commit) {
            await removeFiles(dir, nameOf(old));
          }
        }
        return description;
      } catch (e) {
        await writer.abort();
        throw e;
      }
    },
    async abort() {
      close();
      await removeFiles(dir, name);
    },
  };
  return writer;
}
