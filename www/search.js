// The photo search page: pick a folder, index its pictures with CLIP in
// batches (in webclip's worker), keep the index and thumbnails in the origin
// private file system, and search by words, by example or both; near-
// duplicates; export and import of the index file.
//
// Query parameters: ?model=<url> (a model file or directory URL, or a Hub id;
// default the demo model) and ?engine=cpu|webgpu|auto, as on the demo page.
// For tests: window.searchPage = { ready, state(), idle() }.

import { SearchIndex } from './webclip.js';
import { dropZone } from './drop-zone.js';
import { canPickHandle, fromDrop, fromFileList, fromHandle, permission, pickHandle } from './search-folder.js';
import { BATCH, IndexJob } from './search-indexer.js';
import { loadSearchModel } from './search-model.js';
import * as store from './search-store.js';
import { makeThumb } from './search-thumbs.js';
import * as view from './search-view.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** Batches between two saves of the index while indexing (and once at the end). */
const SAVE_EVERY = 4;
const TEMPLATE = 'a photo of {}';
/** The near-duplicates slider's start before an index says its own (SearchIndex#info.duplicateThreshold). */
const DEFAULT_THRESHOLD = 0.95;

const state = {
  model: undefined,
  modelInfo: undefined, // { name, sha256 }
  modelKey: undefined,
  index: undefined,
  root: undefined, // the folder's name
  folderKey: undefined,
  files: new Map(), // path -> File, for pictures of a folder given in this visit
  handle: undefined, // the folder's directory handle, where the browser gave one
  entries: new Map(), // path -> { path, size, modified }
  thumbUrls: new Map(), // path -> object URL
  skipped: [],
  failures: new Map(), // path -> { path, size, modified, reason }: pictures that failed, not tried again while unchanged
  example: undefined, // { like: path } or { image: Blob, name }
  job: undefined,
  embedded: 0, // pictures embedded in this visit
  stored: [],
  busy: Promise.resolve(), // the folder or index operation in progress
  lastResults: [],
  lastDuplicates: [],
};

let markReady;
const ready = new Promise((resolve) => (markReady = resolve));
window.searchPage = {
  ready,
  /** A plain snapshot for tests and tooling. */
  state: () => ({
    model: $('model-status').dataset.state,
    sha256: state.modelInfo?.sha256,
    root: state.root,
    size: state.index?.size ?? 0,
    indexing: Boolean(state.job),
    progress: state.job ? { done: state.job.done, total: state.job.total, paused: state.job.paused && state.job.holding } : undefined,
    embedded: state.embedded,
    skipped: state.skipped.map((s) => ({ ...s })),
    stored: state.stored.map(({ root, size, model }) => ({ root, size, model })),
    results: state.lastResults.map((r) => ({ ...r })),
    duplicates: state.lastDuplicates.map((g) => [...g]),
    error: $('error').hidden ? undefined : { kind: $('error').dataset.kind, text: $('error').textContent },
  }),
  /** Resolves once no folder or index operation is running. */
  idle: async () => {
    for (let last; last !== state.busy; ) await (last = state.busy);
  },
};

main();

async function main() {
  wire();
  setControls();
  try {
    if (!(await loadModel())) return;
    await refreshStored();
    const mine = state.stored.find((s) => s.model === state.modelKey);
    if (mine) await exclusive(() => openStored(mine));
  } finally {
    setControls();
    markReady();
  }
}

function wire() {
  $('folder-input').addEventListener('change', (e) => {
    const listing = fromFileList(e.target.files);
    e.target.value = '';
    if (listing) exclusive(() => indexFolder(listing));
  });
  if (canPickHandle()) {
    $('folder-pick').hidden = false;
    $('folder-input-label').textContent = 'Or pick its files…';
    $('folder-pick').addEventListener('click', () => exclusive(pickFolder));
  }
  const drop = $('folder-drop');
  dropZone(drop, (data) => {
    const dropped = fromDrop(data);
    if (!dropped) return view.showError('Drop a folder from your computer (items dragged from other pages cannot be read).');
    dropped.then(
      (got) => {
        if (got?.listing) exclusive(() => indexFolder(got.listing, got.handle));
        else if (got?.file) setExample({ image: got.file, name: got.file.name });
      },
      (err) => view.showFailure(err, { sentence: 'The dropped folder could not be read.' }),
    );
  });
  drop.addEventListener('keydown', (e) => {
    if (e.target !== drop || (e.key !== 'Enter' && e.key !== ' ')) return;
    e.preventDefault();
    if (canPickHandle()) exclusive(pickFolder);
    else $('folder-input').click();
  });
  $('reconnect').addEventListener('click', () => exclusive(reconnect));
  $('index-pause').addEventListener('click', () => state.job?.pause());
  $('index-resume').addEventListener('click', () => state.job?.resume());
  $('index-cancel').addEventListener('click', () => state.job?.cancel());

  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    search();
  });
  $('example-input').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) setExample({ image: file, name: file.name });
  });
  $('example-clear').addEventListener('click', () => setExample(undefined));
  // A picture dropped on the search: search by it (with the words, if any).
  dropZone($('search-form'), (data) => {
    const file = data?.files?.[0];
    if (file?.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp)$/i.test(file?.name ?? '')) setExample({ image: file, name: file.name });
    else view.showError('Drop a picture file here to find pictures like it (pictures dragged from other pages cannot be read).');
  });
  $('folder-filter').addEventListener('change', () => state.lastResults.length && search());

  const threshold = $('dup-threshold');
  setThreshold(DEFAULT_THRESHOLD);
  let timer;
  threshold.addEventListener('input', () => {
    state.thresholdMoved = true;
    $('dup-value').textContent = Number(threshold.value).toFixed(3);
    clearTimeout(timer);
    if (state.lastDuplicatesShown) timer = setTimeout(findDuplicates, 250);
  });
  $('dup-find').addEventListener('click', findDuplicates);

  $('export').addEventListener('click', exportIndex);
  $('import').addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) exclusive(() => importIndex(file));
  });
}

/** The near-duplicates slider at `value` (the index's default until the user moves it). */
function setThreshold(value) {
  const threshold = $('dup-threshold');
  threshold.min = String(Math.min(0.8, Math.floor(value * 20) / 20 - 0.1));
  threshold.value = String(value);
  $('dup-value').textContent = Number(threshold.value).toFixed(3);
}

/** Runs `task` after the folder or index operation in progress (one at a time). */
function exclusive(task) {
  const run = state.busy.then(task).catch((e) => view.showFailure(e));
  state.busy = run;
  return run;
}

// The model ----------------------------------------------------------------

async function loadModel() {
  const status = $('model-status');
  const progress = $('model-progress');
  const source = params.get('model') || 'models/demo/model-q4.webclip';
  const started = performance.now();
  try {
    const { model, info } = await loadSearchModel(source, {
      engine: params.get('engine') || undefined,
      onProgress({ loaded, total }) {
        progress.hidden = false;
        if (total) progress.value = loaded / total;
        status.textContent = `Downloading the model: ${mb(loaded)}${total ? ` of ${mb(total)}` : ''}`;
      },
    });
    state.model = model;
    state.modelInfo = info;
    state.modelKey = store.modelKey(info.sha256);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    status.textContent = `Model ready in ${seconds} s (${model.engine.description}).`;
    status.dataset.state = 'ready';
    status.dataset.engine = model.engine.name;
    status.dataset.sha256 = info.sha256;
    return true;
  } catch (e) {
    status.dataset.state = 'error';
    status.textContent = 'No model loaded: pictures cannot be indexed or searched.';
    view.showFailure(e);
    return false;
  } finally {
    progress.hidden = true;
  }
}

// Folders and indexes -----------------------------------------------------

async function pickFolder() {
  const handle = await pickHandle();
  if (!handle) return;
  await indexFolder(await fromHandle(handle), handle);
}

/** Asks again for the folder of the open index (its handle kept from an earlier visit), then brings the index up to date. */
async function reconnect() {
  const handle = state.handle;
  if (!handle) return;
  const allowed = await permission(handle, { ask: true });
  if (allowed !== 'granted') return view.showError(`Reading “${handle.name}” was not allowed, so the index stays as it was. Its pictures are still searchable.`);
  await indexFolder(await fromHandle(handle), handle);
}

/** Opens the index a folder was given for (kept or new) and embeds what is new or changed, removing what is gone. */
async function indexFolder(listing, handle) {
  if (!state.model) return view.showError('The model is not loaded, so the folder cannot be indexed.');
  view.clearError();
  const folderKey = await store.folderKey(listing.root);
  if (folderKey !== state.folderKey || !state.index) {
    const kept = state.stored.find((s) => s.folder === folderKey && s.model === state.modelKey);
    let opened;
    if (kept) {
      try {
        opened = await SearchIndex.open(state.model, await store.readIndex(kept.folder, kept.model), { name: `${kept.root} (kept in this browser)`, expectSha256: state.modelInfo.sha256 });
      } catch (e) {
        console.warn(`webclip search: the kept index of ${listing.root} could not be read, indexing anew: ${e.message}`);
      }
    }
    const failed = opened ? kept.failed : [];
    opened ??= await SearchIndex.create(state.model, { model: state.modelInfo, root: listing.root, template: TEMPLATE });
    await setIndex(opened, { root: listing.root, folderKey });
    state.failures = new Map(failed.map((f) => [f.path, f]));
  }
  state.files = new Map(listing.files.map(({ path, file }) => [path, file]));
  state.handle = handle;
  if (handle && store.hasStore()) store.rememberHandle(folderKey, handle).catch(() => {});
  showReconnect();
  state.skipped = [...listing.skipped];
  view.showSkipped(state.skipped);

  const listed = listing.files.map(({ path, file }) => ({ path, file, size: file.size, modified: file.lastModified }));
  const { embed: changed, dropped: remove, kept: unchanged } = await state.index.changes(listed);
  // Pictures that failed before and have not changed since are listed again, not tried again.
  const add = [];
  for (const item of changed) {
    const failed = state.failures.get(item.path);
    if (failed && failed.size === item.file.size && failed.modified === item.file.lastModified) state.skipped.push({ path: item.path, reason: failed.reason });
    else add.push(item);
  }
  const present = new Set(listing.files.map((f) => f.path));
  for (const path of state.failures.keys()) if (!present.has(path)) state.failures.delete(path);
  view.showSkipped(state.skipped);
  if (remove.length) {
    await state.index.remove(remove);
    for (const path of remove) forgetThumb(path);
    await refreshEntries();
  }
  const status = $('index-status');
  status.textContent = add.length ? `Indexing ${add.length} of ${listing.files.length} pictures in ${listing.root}…` : '';
  const result = await runJob(add);
  await refreshEntries();
  await save();
  await store.pruneThumbs(state.folderKey, state.modelKey, new Set(await Promise.all([...state.entries.values()].map(store.thumbName)))).catch(() => {});
  const parts = [`${state.index.size} ${state.index.size === 1 ? 'picture' : 'pictures'} from ${listing.root} indexed`];
  if (result.added) parts.push(`${result.added} new or changed`);
  if (unchanged) parts.push(`${unchanged} unchanged`);
  if (remove.length) parts.push(`${remove.length} gone from the folder, removed`);
  if (state.skipped.length) parts.push(`${state.skipped.length} skipped (see below)`);
  if (result.cancelled) parts.unshift(`Cancelled after ${result.done} of ${add.length}`);
  status.textContent = `${parts.join('; ')}.`;
  status.dataset.state = result.cancelled ? 'cancelled' : 'done';
  await refreshStored();
}

/** Embeds `items` in batches, with thumbnails, saving the index every few batches. */
async function runJob(items) {
  let added = 0;
  let batches = 0;
  const job = new IndexJob(items, async (batch) => {
    const thumbs = Promise.all(batch.map(({ file }) => makeThumb(file)));
    const result = await state.index.add(batch.map(({ path, file }) => ({ path, size: file.size, modified: file.lastModified, image: file })));
    state.embedded += result.added.length;
    added += result.added.length;
    const made = await thumbs;
    const byPath = new Map(batch.map((item, i) => [item.path, { ...item, thumb: made[i] }]));
    for (const path of result.added) {
      const { file, thumb } = byPath.get(path);
      const entry = { path, size: file.size, modified: file.lastModified };
      state.entries.set(path, entry);
      state.failures.delete(path);
      if (thumb) await keepThumb(entry, thumb);
    }
    if (result.failed.length) {
      for (const { path, reason } of result.failed) {
        const { file } = byPath.get(path) ?? {};
        const failure = { path, size: file?.size, modified: file?.lastModified, reason: plainReason(path, reason) };
        state.failures.set(path, failure);
        state.skipped.push({ path, reason: failure.reason });
      }
      view.showSkipped(state.skipped);
      // A picture that changed and no longer reads loses its old entry too.
      const stale = result.failed.map((f) => f.path).filter((p) => state.entries.has(p));
      if (stale.length) {
        await state.index.remove(stale);
        for (const path of stale) {
          forgetThumb(path);
          state.entries.delete(path);
        }
      }
    }
    if (++batches % SAVE_EVERY === 0) await save();
  }, { size: BATCH, onProgress: view.showProgress });
  state.job = job;
  setControls();
  try {
    const { done, cancelled } = await job.run();
    return { added, done, cancelled };
  } finally {
    state.job = undefined;
    $('indexing').hidden = true;
    setControls();
  }
}

/**
 * `use(index)` on the open index. If the engine crashed since it was opened
 * (the index went with its worker), it is opened again from the copy kept in
 * this browser (what the last save held) and `use` runs once more.
 */
async function withIndex(use) {
  try {
    return await use(state.index);
  } catch (e) {
    if (!/engine restarted/.test(e.message) || !state.folderKey) throw e;
    const bytes = await store.readIndex(state.folderKey, state.modelKey).catch(() => undefined);
    if (!bytes) throw e;
    state.index = await SearchIndex.open(state.model, bytes, { name: `${state.root} (kept in this browser)`, expectSha256: state.modelInfo.sha256 });
    await refreshEntries();
    return use(state.index);
  }
}

/** Makes `index` the open one (the previous one disposed) and shows what it holds. */
async function setIndex(index, { root, folderKey }) {
  const previous = state.index;
  state.index = index;
  state.root = root;
  state.folderKey = folderKey;
  state.files = new Map();
  state.handle = undefined;
  state.skipped = [];
  state.failures = new Map();
  state.example = undefined;
  for (const url of state.thumbUrls.values()) URL.revokeObjectURL(url);
  state.thumbUrls.clear();
  if (previous && previous !== index) previous.dispose();
  await refreshEntries();
  view.showSkipped([]);
  setExample(undefined);
  view.showResults([], resultActions);
  state.lastResults = [];
  view.showDuplicates([], resultActions);
  state.lastDuplicates = [];
  state.lastDuplicatesShown = false;
  $('dup-status').textContent = '';
  if (!state.thresholdMoved && Number.isFinite(index.info?.duplicateThreshold)) setThreshold(index.info.duplicateThreshold);
  $('search-status').textContent = `${index.size} ${index.size === 1 ? 'picture' : 'pictures'} in the index of ${root}.`;
  setControls();
}

async function refreshEntries() {
  const entries = state.index ? await state.index.entries() : [];
  state.entries = new Map(entries.map((e) => [e.path, e]));
  view.showFolders(entries.map((e) => e.path));
}

/** Opens an index kept in this browser: searchable at once, thumbnails from storage. */
async function openStored(entry) {
  if (state.job) return view.showError('Wait for the indexing to finish (or cancel it) before opening another index.');
  let index;
  try {
    index = await SearchIndex.open(state.model, await store.readIndex(entry.folder, entry.model), { name: `${entry.root} (kept in this browser)`, expectSha256: state.modelInfo.sha256 });
  } catch (e) {
    return view.showFailure(e, indexFailure(e, `The index of ${entry.root} kept in this browser`));
  }
  view.clearError();
  await setIndex(index, { root: entry.root, folderKey: entry.folder });
  state.failures = new Map(entry.failed.map((f) => [f.path, f]));
  $('index-status').textContent = `Opened the index of ${entry.root} kept in this browser: ${index.size} ${index.size === 1 ? 'picture' : 'pictures'}. Pick the folder again to bring it up to date.`;
  $('index-status').dataset.state = 'opened';
  if (store.hasStore()) state.handle = await store.storedHandle(entry.folder);
  showReconnect();
  showStoredList();
}

/** The reconnect button, for an index whose folder handle was kept but is not readable in this visit. */
async function showReconnect() {
  const handle = state.handle;
  const row = $('reconnect-row');
  if (!handle || state.files.size) {
    row.hidden = true;
    return;
  }
  const allowed = await permission(handle);
  $('reconnect-text').textContent = allowed === 'granted' ? `“${handle.name}” can be read: check it for new, changed or deleted pictures.` : `To check “${handle.name}” for new or changed pictures, allow this page to read it again.`;
  $('reconnect').textContent = allowed === 'granted' ? `Update from “${handle.name}”` : `Allow reading “${handle.name}”`;
  row.hidden = false;
}

async function save() {
  if (!store.hasStore() || !state.index) return;
  try {
    const bytes = await withIndex((index) => index.toBytes());
    await store.saveIndex(state.folderKey, state.modelKey, bytes, { root: state.root, model: state.modelInfo, size: state.index.size, failed: [...state.failures.values()] });
  } catch (e) {
    if (state.saveWarned) return console.warn(`webclip search: the index was not kept: ${e.message}`);
    state.saveWarned = true;
    view.showFailure(e, { sentence: 'The index could not be kept in this browser (its storage may be full or switched off); it works until the page is closed, and “Download the index” saves it.', kind: 'storage' });
  }
}

async function refreshStored() {
  try {
    state.stored = await store.listIndexes();
  } catch {
    state.stored = [];
  }
  showStoredList();
}

function showStoredList() {
  $('stored').hidden = !store.hasStore();
  view.showStored(state.stored, {
    usable: (s) => s.model === state.modelKey && Boolean(state.model),
    current: state.stored.find((s) => s.folder === state.folderKey && s.model === state.modelKey && state.index),
    open: (s) => exclusive(() => openStored(s)),
    forget: (s) => exclusive(() => forgetStored(s)),
  });
}

async function forgetStored(entry) {
  if (state.job && entry.folder === state.folderKey) return view.showError('Cancel the indexing before forgetting this index.');
  await store.removeIndex(entry.folder, entry.model);
  if (entry.folder === state.folderKey && entry.model === state.modelKey) {
    // The open index stays open in this visit, but nothing of it is kept.
    $('index-status').textContent = `The kept copy of the index of ${entry.root} was removed; it stays open until the page is closed.`;
  }
  await refreshStored();
}

// Thumbnails ---------------------------------------------------------------

async function keepThumb(entry, blob) {
  forgetThumb(entry.path);
  state.thumbUrls.set(entry.path, URL.createObjectURL(blob));
  if (!store.hasStore()) return;
  await store.saveThumb(state.folderKey, state.modelKey, await store.thumbName(entry), blob).catch((e) => console.warn(`webclip search: thumbnail of ${entry.path} not kept: ${e.message}`));
}

function forgetThumb(path) {
  const url = state.thumbUrls.get(path);
  if (url) URL.revokeObjectURL(url);
  state.thumbUrls.delete(path);
}

/** A URL for `path`'s thumbnail (made this visit or kept in storage), or undefined. */
async function thumbUrl(path) {
  if (state.thumbUrls.has(path)) return state.thumbUrls.get(path);
  const entry = state.entries.get(path);
  if (!entry || !store.hasStore()) return undefined;
  const file = await store.readThumb(state.folderKey, state.modelKey, await store.thumbName(entry));
  if (!file || state.thumbUrls.has(path)) return state.thumbUrls.get(path);
  const url = URL.createObjectURL(file);
  state.thumbUrls.set(path, url);
  return url;
}

// Searching ----------------------------------------------------------------

const resultActions = {
  thumbUrl,
  open: openPicture,
  like: (path) => {
    setExample({ like: path, name: path });
    search();
  },
};

function setExample(example) {
  state.example = example;
  const box = $('example');
  box.hidden = !example;
  const img = $('example-image');
  if (img.src.startsWith('blob:') && !([...state.thumbUrls.values()].includes(img.src))) URL.revokeObjectURL(img.src);
  img.removeAttribute('src');
  if (!example) {
    $('example-input').value = '';
    return;
  }
  $('example-text').textContent = example.like ? `Like ${example.name}` : `Like the picture ${example.name || ''}`.trim();
  if (example.image) img.src = URL.createObjectURL(example.image);
  else thumbUrl(example.like).then((url) => url && state.example === example && (img.src = url));
  if (example.image && state.index) search();
}

async function search() {
  if (!state.index) return view.showError('Pick a folder or open an index first.');
  const text = $('query').value.trim();
  const example = state.example;
  if (!text && !example) return view.showError('Type some words, or give a picture like the ones you want.');
  const query = { top: 50, folder: $('folder-filter').value };
  if (text) query.text = text;
  if (example?.like) query.like = example.like;
  if (example?.image) query.image = example.image;
  $('results').dataset.state = 'running';
  try {
    const results = await withIndex((index) => index.search(query));
    state.lastResults = results;
    view.showResults(results, resultActions);
    const what = [text && `“${text}”`, example && `pictures like ${example.name || 'the one given'}`].filter(Boolean).join(' and ');
    const where = query.folder ? ` in ${query.folder}` : '';
    $('search-status').textContent = results.length ? `${results.length} best ${results.length === 1 ? 'match' : 'matches'} for ${what}${where} (cosine similarity).` : `No pictures${where} to rank.`;
    view.clearError();
  } catch (e) {
    $('results').dataset.state = 'error';
    view.showFailure(e, example?.image ? undefined : { sentence: 'The search could not run.' });
  }
}

/** Shows a picture: the folder's file where it was given in this visit, else its thumbnail. */
async function openPicture(path) {
  const file = state.files.get(path);
  const img = $('viewer-image');
  if (img.src.startsWith('blob:') && ![...state.thumbUrls.values()].includes(img.src)) URL.revokeObjectURL(img.src);
  const url = file ? URL.createObjectURL(file) : await thumbUrl(path);
  if (url) img.src = url;
  else img.removeAttribute('src');
  img.alt = path;
  $('viewer-caption').textContent = file ? path : `${path} (a thumbnail: pick the folder again to see the picture itself)`;
  $('viewer').dataset.source = file ? 'file' : url ? 'thumbnail' : 'none';
  $('viewer').showModal();
}

async function findDuplicates() {
  if (!state.index) return;
  const threshold = Number($('dup-threshold').value);
  $('dup-status').textContent = 'Comparing every picture with every other…';
  try {
    const groups = await withIndex((index) => index.duplicates({ threshold }));
    state.lastDuplicates = groups;
    state.lastDuplicatesShown = true;
    view.showDuplicates(groups, resultActions);
    const pictures = groups.reduce((n, g) => n + g.length, 0);
    $('dup-status').textContent = groups.length ? `${groups.length} ${groups.length === 1 ? 'group' : 'groups'} of near-duplicates (${pictures} pictures) above ${threshold.toFixed(3)}.` : `No pictures are this similar (above ${threshold.toFixed(3)}).`;
  } catch (e) {
    view.showFailure(e, { sentence: 'Near-duplicates could not be found.' });
  }
}

// The index file -----------------------------------------------------------

async function exportIndex() {
  if (!state.index) return;
  try {
    const bytes = await withIndex((index) => index.toBytes());
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const link = Object.assign(document.createElement('a'), { href: url, download: `${safeFileName(state.root)}.webclip-index` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    view.showFailure(e, { sentence: 'The index could not be saved as a file.' });
  }
}

/** Opens an index file: on failure the page keeps what it had and says why. */
async function importIndex(file) {
  if (!state.model) return view.showError('The model is not loaded, so an index cannot be opened.');
  if (state.job) return view.showError('Wait for the indexing to finish (or cancel it) before opening an index file.');
  let index;
  try {
    index = await SearchIndex.open(state.model, file, { name: file.name, expectSha256: state.modelInfo.sha256 });
  } catch (e) {
    return view.showFailure(e, indexFailure(e, `“${file.name}”`));
  }
  view.clearError();
  const root = index.info?.root || file.name.replace(/\.webclip-index$/, '');
  await setIndex(index, { root, folderKey: await store.folderKey(root) });
  $('index-status').textContent = `Opened ${file.name}: ${index.size} ${index.size === 1 ? 'picture' : 'pictures'} of ${root}. Pick the folder ${root} to see the pictures and bring the index up to date.`;
  $('index-status').dataset.state = 'imported';
  await save();
  await refreshStored();
}

/** Plain words for an index that cannot be opened: another model's, or not an index at all. */
function indexFailure(e, what) {
  const message = String(e?.message ?? e);
  if (/sha-?256|another model|other weights|different model|made with|weights of/i.test(message)) {
    return { kind: 'index-model', sentence: `${what} was made with another model than the one this page uses, so it cannot be searched here. Open the page with that model (?model=…) or index the folder again.` };
  }
  return { kind: 'index', sentence: `${what} could not be opened: it is not a webclip index, or it is damaged. Nothing was changed.` };
}

// Little things --------------------------------------------------------------

function setControls() {
  const ready = Boolean(state.index) && !state.job;
  $('search').disabled = !state.index;
  $('dup-find').disabled = !ready;
  $('export').disabled = !ready;
  $('import').disabled = Boolean(state.job) || !state.model;
  $('folder-input').disabled = Boolean(state.job) || !state.model;
  $('folder-pick').disabled = Boolean(state.job) || !state.model;
  document.body.dataset.indexing = state.job ? 'running' : 'idle';
}

/** The API's reason without the file name it starts with (the list shows the path beside it). */
function plainReason(path, reason) {
  const name = path.split('/').pop();
  const text = String(reason ?? '').trim();
  return text.startsWith(`image ${name}: `) ? text.slice(`image ${name}: `.length) : text || 'could not be read';
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const safeFileName = (name) => String(name || 'index').replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_').slice(0, 80);
