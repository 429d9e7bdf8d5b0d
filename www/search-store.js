// The photo search page's persistence: each folder's index and thumbnails in
// the origin private file system (OPFS), and picked folders' handles in
// IndexedDB (a handle cannot live in OPFS), so a second visit opens an index
// at once and can ask for the folder back.
//
//   webclip-search/<folder key>/<model key>/index.safetensors  the index (SearchIndex#toBytes)
//                                           meta.json          { root, model: { name, sha256 }, size, savedAt,
//                                                                failed: [{ path, size, modified, reason }] }
//                                           thumbs/<hash>.webp one per picture (thumbName)
//
// No name here comes from a path as it is: a folder's key is its name with
// anything but letters, digits, '.', '_' and '-' replaced, plus a hash of the
// whole name; a thumbnail's name is a hash of the picture's path, size and time.

const DIR = 'webclip-search';
const INDEX_FILE = 'index.safetensors';
const META_FILE = 'meta.json';

/** Whether this browser has an origin private file system to keep indexes in. */
export const hasStore = () => Boolean(navigator.storage?.getDirectory);

/** SHA-256 of `data` (a string, ArrayBuffer or view) as lowercase hex. */
export async function sha256Hex(data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The directory name of a folder called `root`: readable, never a path, unique by hash. */
export async function folderKey(root) {
  const readable = String(root).replace(/[^\w.-]/g, '_').replace(/^\.+/, '_').slice(0, 40) || 'folder';
  return `${readable}-${(await sha256Hex(`folder ${root}`)).slice(0, 12)}`;
}

/** The directory name for a model's indexes: the start of its weights' SHA-256. */
export const modelKey = (sha256) => String(sha256).replace(/[^0-9a-f]/gi, '').slice(0, 16) || 'unknown';

/** A thumbnail's file name: a hash of what identifies the picture's version. */
export async function thumbName({ path, size, modified }) {
  return `${(await sha256Hex(`${path}\0${size}\0${modified}`)).slice(0, 32)}.img`;
}

async function base({ create = false } = {}) {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create });
}

/** The directory of one folder's index for one model (created on demand). */
async function indexDir(folder, model, create) {
  const dir = await (await base({ create })).getDirectoryHandle(folder, { create });
  return dir.getDirectoryHandle(model, { create });
}

async function readJson(dir, name) {
  try {
    return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text());
  } catch {
    return undefined;
  }
}

async function writeFile(dir, name, data) {
  const handle = await dir.getFileHandle(name, { create: true });
  if (!handle.createWritable) throw new Error('this browser cannot write files in its private storage from a page');
  const writable = await handle.createWritable();
  try {
    await writable.write(data);
    await writable.close();
  } catch (e) {
    await writable.abort().catch(() => {});
    throw e;
  }
}

/**
 * Every stored index, newest first: `{ folder, model, root, modelInfo: { name, sha256 }, size, savedAt, failed }`
 * (`folder` and `model` are the directory keys; `failed`, the pictures that
 * could not be read, so an unchanged one is not tried again). Directories without a readable
 * meta.json and index file are left out.
 */
export async function listIndexes() {
  if (!hasStore()) return [];
  let dir;
  try {
    dir = await base();
  } catch {
    return []; // nothing stored yet
  }
  const found = [];
  for await (const [folder, folderHandle] of dir.entries()) {
    if (folderHandle.kind !== 'directory') continue;
    for await (const [model, handle] of folderHandle.entries()) {
      if (handle.kind !== 'directory') continue;
      const meta = await readJson(handle, META_FILE);
      const hasIndex = await handle.getFileHandle(INDEX_FILE).then(() => true, () => false);
      if (!meta || !hasIndex) continue;
      const failed = Array.isArray(meta.failed) ? meta.failed.filter((f) => typeof f?.path === 'string' && typeof f.reason === 'string') : [];
      found.push({ folder, model, root: String(meta.root ?? folder), modelInfo: meta.model ?? {}, size: Number(meta.size) || 0, savedAt: Number(meta.savedAt) || 0, failed });
    }
  }
  return found.sort((a, b) => b.savedAt - a.savedAt);
}

/** A stored index's bytes, as a File (its name says which folder). */
export async function readIndex(folder, model) {
  const dir = await indexDir(folder, model, false);
  return (await dir.getFileHandle(INDEX_FILE)).getFile();
}

/** Writes an index's bytes and its description (the description last: listed only once both exist). */
export async function saveIndex(folder, model, bytes, meta) {
  const dir = await indexDir(folder, model, true);
  await writeFile(dir, INDEX_FILE, bytes);
  await writeFile(dir, META_FILE, JSON.stringify({ ...meta, savedAt: Date.now() }));
}

/** Removes one stored index and its thumbnails (and the folder's directory once empty). */
export async function removeIndex(folder, model) {
  const dir = await base();
  const folderHandle = await dir.getDirectoryHandle(folder);
  await folderHandle.removeEntry(model, { recursive: true });
  let empty = true;
  for await (const _ of folderHandle.keys()) empty = false;
  if (empty) await dir.removeEntry(folder, { recursive: true }).catch(() => {});
  await forgetHandle(folder).catch(() => {});
}

async function thumbsDir(folder, model, create) {
  return (await indexDir(folder, model, create)).getDirectoryHandle('thumbs', { create });
}

/** Stores a thumbnail (a Blob) under `name` (thumbName). */
export async function saveThumb(folder, model, name, blob) {
  await writeFile(await thumbsDir(folder, model, true), name, blob);
}

/** A stored thumbnail as a File, or undefined. */
export async function readThumb(folder, model, name) {
  try {
    return await (await (await thumbsDir(folder, model, false)).getFileHandle(name)).getFile();
  } catch {
    return undefined;
  }
}

/** Removes the thumbnails whose names are not in `keep` (a Set). */
export async function pruneThumbs(folder, model, keep) {
  let dir;
  try {
    dir = await thumbsDir(folder, model, false);
  } catch {
    return 0;
  }
  const gone = [];
  for await (const name of dir.keys()) if (!keep.has(name)) gone.push(name);
  for (const name of gone) await dir.removeEntry(name).catch(() => {});
  return gone.length;
}

// Picked folders' handles (showDirectoryPicker), by folder key, in IndexedDB.

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('webclip-search', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('handles');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, run) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction('handles', mode);
      const request = run(tx.objectStore('handles'));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Keeps a folder's directory handle for the next visit. */
export const rememberHandle = (folder, handle) => transact('readwrite', (s) => s.put(handle, folder));
/** The folder's kept directory handle, or undefined. */
export const storedHandle = (folder) => transact('readonly', (s) => s.get(folder)).catch(() => undefined);
export const forgetHandle = (folder) => transact('readwrite', (s) => s.delete(folder));
