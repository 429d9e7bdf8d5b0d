// The demo page: pick a model and an image, type labels, see CLIP's (or
// SigLIP's) scores. Everything runs in this tab; the image is only ever read locally.

import { ClipModel, cachedModels, checkImage, checkWebGPU, forgetCachedModels } from './webclip.js';
import { dropZone } from './drop-zone.js';
import { parseLabels } from './labels.js';
import { forReaders } from './reader-errors.js';
import { hideWhere, resetWhere, setUpWhere } from './where.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Where Hub models come from is the page's own configuration, never the address
// bar's: a link that named a mirror could fill this browser's cache with its
// own weights under a real model's name (www/provenance.js).
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || undefined;
const HUB_CONFIG = { hub: meta('webclip-hub'), mirror: meta('webclip-mirror') };

const state = {
  model: undefined,
  image: undefined, // the File or Blob the user gave
  previewUrl: undefined,
  pictureTurn: 0, // the latest picture given: an older one's late check is dropped
  classifying: false,
  loading: undefined, // the AbortController of the load in progress
  again: false, // inputs changed while classifying: run once more after
};

main();

async function main() {
  $('model-form').addEventListener('submit', (e) => {
    e.preventDefault();
    loadModel($('model-url').value.trim());
  });
  $('model-choice').addEventListener('change', (e) => {
    if (!e.target.value) return $('model-url').focus();
    $('model-url').value = e.target.value;
    loadModel(e.target.value);
  });
  $('model-url').addEventListener('input', () => {
    const preset = Array.from($('model-choice').options).find((o) => o.value === $('model-url').value.trim());
    $('model-choice').value = preset ? preset.value : '';
  });
  $('model-cancel').addEventListener('click', () => state.loading?.abort());
  $('cached-forget-all').addEventListener('click', () => forget());
  $('model-files').addEventListener('change', (e) => {
    if (e.target.files.length) loadModel(Array.from(e.target.files));
  });
  $('image-file').addEventListener('change', (e) => setImage(e.target.files[0]));
  wireDropAndPaste();
  setUpWhere((e) => showFailure(e));
  $('classify').addEventListener('click', classify);
  $('labels').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) classify();
  });

  showSamples();
  warnIgnoredParams();
  // ?model= picks the first model (tests use the tiny fixture).
  if (params.get('model')) {
    $('model-url').value = params.get('model');
    $('model-url').dispatchEvent(new Event('input'));
  }

  // Without WebGPU the model runs on the CPU engine: say so, and go on.
  const gpu = await checkWebGPU();
  if (!gpu.ok) showNoWebGPU(gpu.reason);
  loadModel($('model-url').value.trim());
  showCached();
}

async function loadModel(source) {
  const status = $('model-status');
  const progress = $('model-progress');
  const what = typeof source === 'string' ? source : 'the picked files';
  if (!source || (Array.isArray(source) && !source.length)) return showError('Give a Hub id, a model directory or model file URL, or pick the model files.');
  state.loading?.abort();
  const loading = (state.loading = new AbortController());
  setBusy(true);
  status.dataset.state = 'loading';
  status.textContent = `Loading ${what}…`;
  $('model-loading').hidden = false;
  progress.removeAttribute('value'); // indeterminate until sizes are known
  const started = performance.now();
  try {
    const model = await ClipModel.load(source, {
      weights: $('model-weights').value || undefined,
      // ?engine=cpu|webgpu forces an engine (tests, comparisons); default auto.
      engine: params.get('engine') || undefined,
      // <meta name="webclip-hub"> and <meta name="webclip-mirror">: the Hub's address and the page's mirror.
      ...HUB_CONFIG,
      signal: loading.signal,
      onProgress({ loaded, total, file, rate, fromCache }) {
        if (!/\.(safetensors|webclip)$/.test(file)) return;
        if (total) progress.value = loaded / total;
        const speed = rate && !fromCache ? ` at ${mb(rate)}/s` : '';
        status.textContent = `${fromCache ? 'Reading the cached copy' : `Downloading ${file}`}: ${mb(loaded)}${total ? ` of ${mb(total)}` : ''}${speed}`;
        if (total && loaded === total) status.textContent = 'Preparing the model…';
      },
    });
    state.model?.dispose();
    state.model = model;
    // The "Where?" view pointed at the previous model's results (now disposed): the new
    // model's results offer it again, or say it cannot (SigLIP). Labels and template stay as typed.
    hideWhere();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const weights = `${model.weights} weights, ${mb(model.gpuBytes)} of ${model.adapter ? 'GPU ' : ''}memory`;
    status.textContent = `Loaded ${what}${originNote(model.origin)} in ${seconds} s (${weights}; ${model.projectionDim}-d embeddings, ${model.imageSize} px images) on ${runsOn(model)}.`;
    status.dataset.engine = model.engine.name;
    status.dataset.state = 'ready';
    status.dataset.fromCache = String(model.origin.fromCache);
    showTimings(model.timings);
    clearError();
    if (state.image) classify();
  } catch (e) {
    status.dataset.state = state.model ? 'ready' : 'error';
    status.textContent = state.model ? 'Still using the previous model.' : 'No model loaded.';
    if (e.name === 'AbortError') {
      if (state.loading === loading) status.textContent += ' Loading was cancelled.';
    } else {
      showFailure(e);
    }
  } finally {
    if (state.loading === loading) {
      state.loading = undefined;
      $('model-loading').hidden = true;
      setBusy(false);
    }
    showCached();
  }
}

/** Where a loaded model came from, for the status line. */
function originNote({ kind, fromCache, offline, commit, bytes, cachedBytes, cacheError, source, mirrorSkipped }) {
  if (kind !== 'hub') return '';
  const version = commit ? ` at ${commit.slice(0, 7)}` : '';
  if (fromCache) return `${version} from this browser's cache (${mb(bytes)})${offline ? ', offline: the Hub could not be reached' : ''}`;
  const from = source?.kind === 'mirror' ? "this site's copy" : 'the Hub';
  const skipped = mirrorSkipped ? ` (this site's copy was not used: ${mirrorSkipped})` : '';
  if (cachedBytes) return `${version} from ${from}, kept for next time (${mb(cachedBytes)})${skipped}`;
  return `${version} from ${from}${cacheError ? ` (not kept: ${cacheError})` : ''}${skipped}`;
}

/** A link's ?hub= or ?mirror= is not obeyed (see HUB_CONFIG): say so where the reader sees it. */
function warnIgnoredParams() {
  const asked = ['hub', 'mirror'].filter((p) => params.has(p));
  if (!asked.length) return;
  const notice = document.createElement('p');
  notice.className = 'notice';
  notice.id = 'ignored-params';
  notice.setAttribute('role', 'status');
  notice.textContent = `This link asks for models from another server (${asked.map((p) => `?${p}=`).join(', ')}). The page ignores that: only the page itself chooses where models come from.`;
  $('error').before(notice);
  console.warn(`webclip: ignored ${asked.map((p) => `?${p}=${params.get(p)}`).join(' ')}`);
}

/** The models kept in this browser, each with its size and a button to forget it. */
async function showCached() {
  let cached;
  try {
    cached = await cachedModels();
  } catch {
    $('cached').hidden = true; // no origin private file system here
    return;
  }
  $('cached').hidden = false;
  const total = cached.reduce((sum, c) => sum + c.bytes, 0);
  $('cached-summary').textContent = cached.length ? `Models kept in this browser: ${cached.length}, ${mb(total)}` : 'No models kept in this browser';
  $('cached-forget-all').hidden = !cached.length;
  $('cached-list').replaceChildren(
    ...cached.map((c) => {
      const item = document.createElement('li');
      const text = document.createElement('span');
      text.textContent = c.partial
        ? `A model file still being written (${c.file}): ${mb(c.bytes)} so far`
        : `${c.id}@${c.commit.slice(0, 7)} (${c.weights}): ${mb(c.bytes)}, saved ${new Date(c.savedAt).toLocaleDateString()}`;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.textContent = 'Forget';
      button.setAttribute('aria-label', c.partial ? `Forget ${c.file}` : `Forget ${c.id} (${c.weights})`);
      button.addEventListener('click', () => forget(c.key));
      item.append(text, button);
      return item;
    }),
  );
}

async function forget(key) {
  try {
    await forgetCachedModels(key);
  } catch (e) {
    showFailure(e, 'Could not free the cached model.');
  }
  showCached();
}

async function setImage(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) return showError(`${file.name} is not an image (${file.type}).`);
  // Its header first: a decompression bomb is refused before the browser's decoder previews it.
  const turn = ++state.pictureTurn;
  try {
    await checkImage(file);
  } catch (e) {
    if (turn !== state.pictureTurn) return;
    state.image = undefined;
    $('preview').hidden = true;
    $('preview').removeAttribute('src');
    $('results').dataset.state = 'error';
    return showFailure(e);
  }
  if (turn !== state.pictureTurn) return;
  state.image = file;
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  $('preview').src = state.previewUrl;
  $('preview').alt = file.name ? `Preview of ${file.name}` : 'Preview of the pasted image';
  $('preview').hidden = false;
  $('drop-hint').textContent = file.name || 'Pasted image';
  classify();
}

/** One-click sample pictures for the demo model (www/models/demo/samples/labels.json). */
async function showSamples() {
  const base = new URL('models/demo/samples/', import.meta.url);
  let listing;
  try {
    listing = await (await fetch(new URL('labels.json', base))).json();
  } catch {
    return; // no samples served: the section stays hidden
  }
  $('sample-list').replaceChildren(
    ...Object.entries(listing.images).map(([file, label]) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sample';
      button.setAttribute('aria-label', `Sample: a ${label}`);
      const img = document.createElement('img');
      img.src = new URL(file, base).href;
      img.alt = '';
      button.append(img);
      button.addEventListener('click', async () => {
        const blob = await (await fetch(img.src)).blob();
        setImage(new File([blob], file, { type: blob.type }));
      });
      return button;
    }),
  );
  $('samples').hidden = false;
}

function wireDropAndPaste() {
  const drop = $('drop');
  dropZone(drop, (data) => {
    const file = data.files[0];
    if (file) setImage(file);
    else showError('Drop an image file (images dragged from other pages cannot be read).');
  });
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') $('image-file').click();
  });
  // Only image pastes are taken over; text pastes into the fields behave as usual.
  document.addEventListener('paste', (e) => {
    const item = Array.from(e.clipboardData?.items ?? []).find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (!item) return;
    e.preventDefault();
    setImage(item.getAsFile());
  });
}

/** A label as notes quote it: at most 40 characters. */
const quote = (label) => `“${label.length > 40 ? `${label.slice(0, 40)}…` : label}”`;

async function classify() {
  if (!state.model || !state.image) return;
  if (state.classifying) {
    state.again = true;
    return;
  }
  const { labels, repeated } = parseLabels($('labels').value);
  if (!labels.length) return showError('Type at least one label, one per line.');
  state.classifying = true;
  $('results').dataset.state = 'running';
  const progress = $('label-progress');
  const template = $('template').value.trim();
  // The model these results come from, even if another one loads meanwhile.
  const model = state.model;
  try {
    const scores = await model.classify(state.image, labels, {
      template,
      onProgress({ done, total }) {
        progress.hidden = false;
        progress.textContent = `Encoding labels: ${done} of ${total}…`;
      },
    });
    showScores(scores, model);
    resetWhere({ model, image: state.image, labels: scores.map((s) => s.label), template });
    showLabelNotes(scores, repeated, model);
    showTimings(model.timings);
    clearError();
    $('results').dataset.state = 'done';
  } catch (e) {
    $('results').dataset.state = 'error';
    hideWhere();
    showFailure(e);
  } finally {
    progress.hidden = true;
    state.classifying = false;
    if (state.again) {
      state.again = false;
      classify();
    }
  }
}

/**
 * One bar per label, filled to its score as the model gives it: a share of 100%
 * for CLIP (softmax), each label's own probability for SigLIP (sigmoid), never
 * renormalised; the cosine is the bar's title.
 */
function showScores(scores, model) {
  const list = $('results');
  list.dataset.scoring = model.scoring;
  // SigLIP's percentages are not shares: say so beside them.
  $('scoring-note').hidden = model.scoring !== 'sigmoid';
  list.replaceChildren(
    ...scores.map(({ label, score, cosine }) => {
      const item = document.createElement('li');
      item.className = 'bar';
      item.dataset.label = label;
      item.dataset.score = String(score); // exact values, for tests and tooling
      item.dataset.cosine = String(cosine);
      item.title = `cosine similarity ${cosine.toFixed(3)}`;
      const pct = `${(score * 100).toFixed(1)}%`;
      item.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
      item.querySelector('.label').textContent = label;
      item.querySelector('.fill').style.width = `${score * 100}%`;
      item.querySelector('.pct').textContent = pct;
      return item;
    }),
  );
}

/** What the scores do not show: labels given twice, labels longer than the model reads. */
function showLabelNotes(scores, repeated, model) {
  const notes = [];
  if (repeated.length) notes.push(`Given more than once, scored once: ${repeated.map(quote).join(', ')}.`);
  const cut = scores.filter((s) => s.truncated).map((s) => quote(s.label));
  const reads = model.family === 'siglip' ? 'the 64 tokens SigLIP reads' : 'the 77 tokens CLIP reads';
  if (cut.length) notes.push(`Longer than ${reads}, so only the beginning counts: ${cut.join(', ')}.`);
  // A sigmoid's single label has its own probability (the scoring note says so); a softmax's is always 100%.
  if (scores.length === 1 && model.scoring !== 'sigmoid') notes.push('With one label the probability is always 100%: its cosine similarity (hover the bar) says how well it fits.');
  $('label-notes').textContent = notes.join(' ');
  $('label-notes').hidden = !notes.length;
}

function showTimings({ loadMs, compileMs, imageMs, textMs }) {
  const line = $('timings');
  const parts = [['load', loadMs], ['shader compile', compileMs], ['image', imageMs], ['text', textMs]];
  line.textContent = parts
    .filter(([, ms]) => ms > 0)
    .map(([name, ms]) => `${name} ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`)
    .join(' · ');
  Object.assign(line.dataset, { loadMs, compileMs, imageMs, textMs });
}

function setBusy(busy) {
  $('model-load').disabled = busy;
  $('model-files').disabled = busy;
  $('model-choice').disabled = busy;
  $('classify').disabled = busy || !state.model;
}

/** A message of the page's own, already in plain words. */
function showError(message) {
  renderError(message, undefined, 'input');
}

/**
 * A failure of the engine or the loader: a plain sentence (www/reader-errors.js),
 * its technical detail behind a disclosure and in the console; `context` stands
 * in for the generic sentence when the failure is of no known kind.
 */
function showFailure(e, context) {
  const { kind, reader, detail } = forReaders(e);
  console.warn(`webclip: ${detail}`);
  renderError(kind === 'other' && context ? context : reader, detail, kind);
}

function renderError(sentence, detail, kind) {
  const box = $('error');
  box.replaceChildren(Object.assign(document.createElement('p'), { className: 'reader', textContent: sentence }));
  if (detail) {
    const summary = Object.assign(document.createElement('summary'), { textContent: 'Details' });
    const code = Object.assign(document.createElement('code'), { textContent: detail });
    const details = document.createElement('details');
    details.append(summary, code);
    box.append(details);
  }
  box.dataset.kind = kind;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').replaceChildren();
  delete $('error').dataset.kind;
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Where `model` runs, for the status line: the adapter as the browser names it, or the CPU engine and why. */
function runsOn(model) {
  if (!model.adapter) return model.engine.description;
  const { name, vendor, architecture, software } = model.adapter;
  const adapter = [vendor, architecture, name].filter(Boolean).join(' ') || 'an unnamed adapter';
  return `WebGPU on ${adapter}${software ? ' (software rendering: slow)' : ''}`;
}

/** Why there is no WebGPU, and how to turn it on; the model runs on the CPU meanwhile. */
function showNoWebGPU(reason) {
  const notice = $('no-webgpu');
  const why = {
    insecure: 'WebGPU only works on secure pages (https:// or http://localhost), so CLIP runs on this computer\'s processor instead: slower, but it works.',
    'no-api': 'This browser does not offer WebGPU, so CLIP runs on this computer\'s processor instead: slower, but it works.',
    'no-adapter': 'This browser supports WebGPU but found no usable graphics adapter (it may be switched off, or the GPU blocklisted), so CLIP runs on the processor instead: slower, but it works.',
  }[reason];
  notice.innerHTML = `<h2>Running without WebGPU</h2><p></p>
    <p>To use the graphics card:</p>
    <ul>
      <li><b>Chrome, Edge</b> (113 or later): on by default on Windows, macOS and ChromeOS. On Linux, open
        <code>chrome://flags/#enable-unsafe-webgpu</code>, enable it (and <code>#enable-vulkan</code> if offered), then relaunch.
        <code>chrome://gpu</code> shows whether WebGPU is blocked for your GPU.</li>
      <li><b>Firefox</b>: on by default on Windows since Firefox 141; elsewhere set <code>dom.webgpu.enabled</code> to
        <code>true</code> in <code>about:config</code> (Nightly).</li>
      <li><b>Safari</b>: on by default from Safari 26; in Safari 17–18 enable Develop › Feature Flags › WebGPU.</li>
    </ul>`;
  notice.querySelector('p').textContent = why;
  notice.hidden = false;
}
