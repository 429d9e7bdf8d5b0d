// The pictures of a folder the user gave the search page, subfolders included,
// from any of the three ways a browser offers one: a `<input type=file
// webkitdirectory>` (its FileList), a directory handle (showDirectoryPicker,
// or a drop's getAsFileSystemHandle) or a dropped entry (webkitGetAsEntry).
// Each gives `{ root, files: [{ path, file }], skipped: [{ path, reason }] }`:
// paths relative to the folder with '/' separators; files that are not
// pictures are skipped with why, never fatal.

/** Extensions of the formats the engine decodes (src/image/decode.rs). */
const PICTURES = /\.(png|jpe?g|jpe|jfif|webp|gif|bmp)$/i;

/** Whether `file` should go to the engine: a picture by its type or its name. */
function isPicture(file) {
  return PICTURES.test(file.name) || (file.type || '').startsWith('image/');
}

/** Why a file that is not a picture was skipped. */
function notPicture(file) {
  const dot = file.name.lastIndexOf('.');
  const kind = file.type || (dot > 0 ? `${file.name.slice(dot).toLowerCase()} file` : 'file without an extension');
  return `not a picture (${kind}): only PNG, JPEG, WebP, GIF and BMP files are indexed`;
}

/** Sorts `[path, file]` pairs into pictures and skipped files. */
function sortOut(root, pairs) {
  const files = [];
  const skipped = [];
  for (const [path, file] of pairs) {
    // Hidden files and the system's own (.DS_Store, Thumbs.db, ._ resource forks) are not the user's pictures.
    if (path.split('/').some((part) => part.startsWith('.')) || /(^|\/)(Thumbs\.db|desktop\.ini)$/i.test(path)) continue;
    if (isPicture(file)) files.push({ path, file });
    else skipped.push({ path, reason: notPicture(file) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { root, files, skipped };
}

/** A webkitdirectory input's files: each `webkitRelativePath` minus its first part (the folder's own name). */
export function fromFileList(fileList) {
  const list = Array.from(fileList);
  if (!list.length) return undefined;
  const first = (list[0].webkitRelativePath || list[0].name).split('/');
  const root = first.length > 1 ? first[0] : 'Pictures';
  const pairs = list.map((file) => {
    const parts = (file.webkitRelativePath || file.name).split('/');
    return [parts.length > 1 ? parts.slice(1).join('/') : parts[0], file];
  });
  return sortOut(root, pairs);
}

/** A directory handle's files, walked depth first. */
export async function fromHandle(handle) {
  const pairs = [];
  const walk = async (dir, prefix) => {
    for await (const [name, entry] of dir.entries()) {
      if (entry.kind === 'directory') await walk(entry, `${prefix}${name}/`);
      else pairs.push([`${prefix}${name}`, await entry.getFile()]);
    }
  };
  await walk(handle, '');
  return sortOut(handle.name, pairs);
}

/** A dropped directory entry's files (the older FileSystemEntry API). */
export async function fromEntry(entry) {
  const pairs = [];
  const file = (e) => new Promise((resolve, reject) => e.file(resolve, reject));
  const readAll = async (dir) => {
    const reader = dir.createReader();
    const all = [];
    // readEntries returns at most 100 at a time: read until it returns none.
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) return all;
      all.push(...batch);
    }
  };
  const walk = async (dir, prefix) => {
    for (const e of await readAll(dir)) {
      if (e.isDirectory) await walk(e, `${prefix}${e.name}/`);
      else pairs.push([`${prefix}${e.name}`, await file(e)]);
    }
  };
  await walk(entry, '');
  return sortOut(entry.name, pairs);
}

/**
 * What a drop holds: `{ handle?, listing }` for a dropped folder (its handle
 * where the browser gives one, kept for the next visit), or `{ file }` for a
 * dropped picture, or undefined. Must be called during the drop event (the
 * items are emptied after it), so it reads the items synchronously first.
 */
export function fromDrop(dataTransfer) {
  const items = Array.from(dataTransfer?.items ?? []).filter((i) => i.kind === 'file');
  if (!items.length) return undefined;
  const item = items[0];
  const handlePromise = item.getAsFileSystemHandle?.();
  const entry = item.webkitGetAsEntry?.();
  const file = item.getAsFile();
  return (async () => {
    const handle = await handlePromise?.catch(() => undefined);
    if (handle?.kind === 'directory') return { handle, listing: await fromHandle(handle) };
    if (entry?.isDirectory) return { listing: await fromEntry(entry) };
    return file ? { file } : undefined;
  })();
}

/** Whether the browser can pick a folder it lets the page keep (showDirectoryPicker). */
export const canPickHandle = () => typeof globalThis.showDirectoryPicker === 'function';

/** Asks the user for a folder through the browser's picker: its handle, or undefined when they cancel. */
export async function pickHandle() {
  try {
    return await globalThis.showDirectoryPicker({ id: 'webclip-search', mode: 'read' });
  } catch (e) {
    if (e.name === 'AbortError') return undefined;
    throw e;
  }
}

/** Whether reading `handle` is allowed now ('granted'), may be asked for ('prompt') or refused. */
export async function permission(handle, { ask = false } = {}) {
  const options = { mode: 'read' };
  try {
    if ((await handle.queryPermission(options)) === 'granted') return 'granted';
    return ask ? await handle.requestPermission(options) : 'prompt';
  } catch {
    return 'denied';
  }
}
