// <clip-classifier>: a live CLIP (or SigLIP) classifier to embed in an article.
//
//   <script type="module" src=".../webclip/widget.js"></script>
//   <clip-classifier model="models/demo/model-q4.webclip" image="robot.png"
//                    labels="a robot; wall-e; a dog" template="a photo of {}"></clip-classifier>
//
// Attributes: `model` (a model file URL, a model directory URL or a Hub id;
// default: the demo model next to this module), `engine` ('auto', 'webgpu' or
// 'cpu', as ClipModel.load's option), `labels` (separated by `;` or
// new lines, as on the demo page: www/labels.js), `template`, `image`
// (optional fixed picture; readers may also upload, drop or paste their own),
// `top` (bars shown, default 5), `editable` (readers may change the labels),
// `heatmap` (off by default: selecting a result bar shows where in the picture
// that label matches, over the image; www/heatmap-draw.js; CLIP models only: with
// a SigLIP model the bars stay plain and a sentence says why).
// With a SigLIP model (`scoring` 'sigmoid') each bar is its label's own
// probability, and a line under the bars says the percentages need not add up to 100%.
// Changing one re-runs only what it affects: labels and template re-score the
// stored image embedding (no image pass; the worker caches label embeddings
// per model), an image re-embeds only the image, a model scores the picture
// shown (the reader's own, if they gave one) and the labels as they stand.
//
// Events (bubbling, composed): `clip-progress` (detail: { loaded, total, rate }),
// `clip-ready` (detail: { weights, origin, engine, family, scoring }), `clip-result` (detail:
// [{ label, score, cosine }], highest first; `score` as ClipModel's `classify`: a share
// for CLIP, each label's own probability for SigLIP), `clip-error` (detail: { message, kind, reader }: the engine's message for the
// author, the kind of failure and the plain sentence the reader saw, www/reader-errors.js).
//
// Styling: Shadow DOM, so no CSS leaks either way. Custom properties
// --clip-accent, --clip-fg, --clip-muted, --clip-bg, --clip-line, --clip-radius,
// --clip-font; parts: container, image, upload, labels, results, bar, label,
// fill, score, note, toggle, status, detail, progress, heatmap, heatmap-caption. Follows the page's light or dark scheme.
//
// Every widget on a page shares one worker, and one loaded model per model URL
// (`ClipModel.load` shares them). A widget loads nothing until it comes near
// the viewport; a failing model shows its error inside the widget only, in plain
// words with the technical detail behind a disclosure, and the widget keeps its
// fixed picture and labels.

import { ClipModel, checkImage } from './webclip.js';
import { dropZone } from './drop-zone.js';
import { parseLabels } from './labels.js';
import { forReaders } from './reader-errors.js';
import { drawOverlay, mapsToDraw } from './heatmap-draw.js';

/** How strongly a label's map covers the picture in the widget. */
const MAP_OPACITY = 0.6;

const DEMO_MODEL = new URL('./models/demo/model-q4.webclip', import.meta.url).href;

const STYLE = `
:host { display: block; max-width: 40rem; font: var(--clip-font, 15px/1.45 system-ui, sans-serif);
  --accent: var(--clip-accent, #3563e9); --fg: var(--clip-fg, #1d2330); --muted: var(--clip-muted, #5d6677);
  --bg: var(--clip-bg, #fff); --line: var(--clip-line, #d8dde6); --radius: var(--clip-radius, 10px); color: var(--fg); }
@media (prefers-color-scheme: dark) {
  :host { --accent: var(--clip-accent, #8aa8ff); --fg: var(--clip-fg, #e6e9ef); --muted: var(--clip-muted, #a3acbb);
    --bg: var(--clip-bg, #1b1f27); --line: var(--clip-line, #3a4150); }
}
[hidden] { display: none !important; }
.container { background: var(--bg); border: 1px solid var(--line); border-radius: var(--radius); padding: 0.9rem; display: grid; gap: 0.6rem; }
.container.over { border-color: var(--accent); }
.picture { display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; }
img { max-width: 100%; max-height: 14rem; border-radius: calc(var(--radius) - 4px); }
.upload { display: inline-block; padding: 0.35rem 0.8rem; border: 1px solid var(--accent); border-radius: 6px; color: var(--accent); cursor: pointer; }
.upload:focus-visible, textarea:focus-visible, input:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.hint, .status { color: var(--muted); font-size: 0.85em; margin: 0; }
.status[data-state="error"] { color: #c62828; }
.detail { color: var(--muted); font-size: 0.8em; }
.detail summary { cursor: pointer; }
.detail code { display: block; margin-top: 0.3rem; overflow-wrap: anywhere; white-space: pre-wrap; }
textarea { box-sizing: border-box; width: 100%; font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 0.4rem; }
ol { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.3rem; }
li { display: grid; grid-template-columns: minmax(0, 9rem) 1fr 3.6rem; gap: 0.5rem; align-items: center; }
.label { overflow-wrap: anywhere; }
.track { height: 0.7rem; background: var(--line); border-radius: 4px; overflow: hidden; }
.fill { display: block; height: 100%; background: var(--accent); }
.score { text-align: right; font-variant-numeric: tabular-nums; }
progress { width: 100%; }
canvas { max-width: 100%; max-height: 14rem; border-radius: calc(var(--radius) - 4px); }
li[role="button"] { cursor: pointer; border-radius: 4px; }
li[role="button"]:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
li[aria-pressed="true"] .label { font-weight: 600; }
@media (max-width: 360px) { li { grid-template-columns: minmax(0, 6rem) 1fr 3.2rem; } }
`;

let sheet;
function styles() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
  }
  return sheet;
}

/** An element with a class, a part and children (never HTML strings: labels are user data). */
function el(tag, { part, className, ...props } = {}, ...children) {
  const e = document.createElement(tag);
  if (part) e.setAttribute('part', part);
  if (className) e.className = className;
  Object.assign(e, props);
  e.append(...children);
  return e;
}

/** One result row: the label, a bar filled to `fraction` (none when unscored) and the score's text. */
function bar(label, fraction, text) {
  const track = el('span', { className: 'track' });
  if (fraction !== undefined) {
    const fill = el('span', { part: 'fill', className: 'fill' });
    fill.style.width = `${Math.max(0, fraction) * 100}%`;
    track.append(fill);
  }
  const item = el('li', { part: 'bar' }, el('span', { part: 'label', className: 'label', textContent: label }), track, el('span', { part: 'score', className: 'score', textContent: text }));
  item.dataset.label = label;
  return item;
}

export class ClipClassifier extends HTMLElement {
  static observedAttributes = ['model', 'engine', 'labels', 'template', 'image', 'top', 'editable', 'heatmap'];

  #ui;
  #model; // Promise<ClipModel> of the latest load
  #current; // the ClipModel in use: disposed when a later load ends (either way) or the widget leaves the page
  #embedding; // Promise<Float32Array> of the current picture
  #blob; // Promise<Blob> of the current picture, to embed again after a failed pass
  #previewUrl;
  #started = false;
  #observer;
  #run = 0; // the latest scoring; older results are dropped
  #pictureTurn = 0; // the latest picture given: an older one's late check is dropped
  #scores;
  #scoredBy; // the ClipModel #scores came from
  #ownPicture = false; // the picture shown is the reader's (uploaded, dropped, pasted), not the `image` attribute's
  #timings;
  #maps; // Promise of the current results' heatmaps ({ map, picture, layers }), made when first asked
  #mapLabel; // the label whose map is shown, if any

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles()];
    const file = el('input', { type: 'file', accept: 'image/*', hidden: true });
    const upload = el('label', { part: 'upload', className: 'upload', tabIndex: 0, textContent: 'Try your own image' }, file);
    const image = el('img', { part: 'image', alt: '', hidden: true });
    const heatmap = el('canvas', { part: 'heatmap', hidden: true });
    heatmap.setAttribute('role', 'img');
    const heatmapCaption = el('p', { part: 'heatmap-caption', className: 'hint', hidden: true });
    const labels = el('textarea', { part: 'labels', rows: 4, spellcheck: false });
    const editor = el('label', { className: 'hint', hidden: true, textContent: 'Labels, one per line' }, labels);
    const results = el('ol', { part: 'results' });
    // What the bars are not (SigLIP's need not add up to 100%), and why a heatmap is not offered.
    const note = el('p', { part: 'note', className: 'hint', hidden: true });
    const live = el('p', { className: 'hint', role: 'status' }); // what screen readers hear
    live.setAttribute('aria-live', 'polite');
    const cosine = el('input', { type: 'checkbox' });
    const toggle = el('label', { part: 'toggle', className: 'hint' }, cosine, ' show cosine similarity instead of probability');
    const progress = el('progress', { part: 'progress', hidden: true });
    const status = el('p', { part: 'status', className: 'status', textContent: 'Waiting to load…' });
    const detailText = el('code');
    const detail = el('details', { part: 'detail', className: 'detail', hidden: true }, el('summary', { textContent: 'Details for the page’s author' }), detailText);
    const container = el(
      'div',
      { part: 'container', className: 'container' },
      el('div', { className: 'picture' }, image, heatmap, el('div', {}, upload, el('p', { className: 'hint', textContent: 'or drop or paste one here' }))),
      heatmapCaption,
      editor,
      results,
      note,
      toggle,
      progress,
      status,
      detail,
      live,
    );
    root.append(container);
    this.#ui = { container, file, upload, image, heatmap, heatmapCaption, editor, labels, results, note, live, cosine, progress, status, detail, detailText };

    file.addEventListener('change', () => file.files[0] && this.#setImage(file.files[0]));
    upload.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        file.click();
      }
    });
    labels.addEventListener('input', () => this.#score());
    cosine.addEventListener('change', () => this.#render());
    dropZone(container, (data) => {
      const dropped = data.files[0];
      if (dropped) this.#setImage(dropped);
    });
    // Pastes while focus is inside the widget (others belong to the page).
    this.addEventListener('paste', (e) => {
      const item = Array.from(e.clipboardData?.items ?? []).find((i) => i.kind === 'file' && i.type.startsWith('image/'));
      if (!item) return;
      e.preventDefault();
      this.#setImage(item.getAsFile());
    });
  }

  connectedCallback() {
    if (this.#started) return;
    this.#ui.editor.hidden = !this.hasAttribute('editable');
    this.#ui.labels.value = this.#labels().join('\n');
    // Nothing loads until the widget is near the viewport.
    this.#observer = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      this.#observer.disconnect();
      this.#start();
    }, { rootMargin: '300px' });
    this.#observer.observe(this);
  }

  disconnectedCallback() {
    this.#observer?.disconnect();
    // Removed from the page, not just moved (a move reconnects at once): free the model.
    // A load still in flight disposes of its model when it ends (it is no longer the latest).
    setTimeout(() => {
      if (this.isConnected) return;
      this.#current?.dispose();
      this.#current = undefined;
      this.#model = undefined;
      this.#embedding = undefined;
      this.#started = false;
    });
  }

  attributeChangedCallback(name, old, value) {
    if (old === value) return;
    if (name === 'editable') this.#ui.editor.hidden = value === null;
    if (name === 'labels') this.#ui.labels.value = this.#labels().join('\n');
    if (!this.#started) return;
    if (name === 'model' || name === 'engine') this.#loadModel();
    else if (name === 'image') this.#setImageUrl(value);
    else if (name === 'labels' || name === 'template') this.#score();
    else if (name === 'top' || name === 'heatmap') this.#render();
  }

  /** The last results: [{ label, score, cosine }], highest first. */
  get results() {
    return this.#scores;
  }

  /** The engine's timings of the last scoring (`encodedPrompts`: labels not found in the worker's cache). */
  get timings() {
    return this.#timings;
  }

  #start() {
    this.#started = true;
    this.#loadModel();
  }

  #labels() {
    const text = this.hasAttribute('editable') && this.#ui.labels.value.trim() && this.#started ? this.#ui.labels.value : this.getAttribute('labels') ?? '';
    return parseLabels(text).labels;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #loadModel() {
    const { status, progress } = this.#ui;
    const url = this.getAttribute('model') || DEMO_MODEL;
    this.#ui.detail.hidden = true;
    status.dataset.state = 'loading';
    status.textContent = 'Loading the model…';
    progress.hidden = false;
    progress.removeAttribute('value');
    const loading = ClipModel.load(url, {
      // An author may force one ('webgpu' or 'cpu'); by default WebGPU on a real GPU, else the CPU.
      engine: this.getAttribute('engine') || undefined,
      onProgress: (p) => {
        if (p.total) progress.value = p.loaded / p.total;
        this.#emit('clip-progress', p);
      },
    });
    this.#model = loading;
    this.#embedding = undefined;
    loading.then(
      (model) => {
        if (this.#model !== loading) return model.dispose();
        this.#current?.dispose();
        this.#current = model;
        progress.hidden = true;
        status.dataset.state = 'ready';
        status.dataset.engine = model.engine.name;
        const name = model.family === 'siglip' ? 'SigLIP' : 'CLIP';
        status.textContent = `Choose or drop an image (it stays on this device: ${name} runs on its ${model.engine.name === 'cpu' ? 'processor' : 'graphics card'}).`;
        this.#emit('clip-ready', { weights: model.weights, origin: model.origin, engine: model.engine, family: model.family, scoring: model.scoring });
        // Earlier results lose their map buttons until this model has scored them; its notes show.
        this.#render();
        // The picture shown is scored again by this model: the reader's own, else the fixed one.
        const image = this.getAttribute('image');
        if (this.#ownPicture) this.#embed(this.#blob);
        else if (image) this.#setImageUrl(image);
      },
      (e) => {
        if (this.#model !== loading) return;
        this.#current?.dispose();
        this.#current = undefined;
        this.#render(); // earlier results stay, without map buttons (their model is gone)
        this.#fail(e);
        this.#showWithoutModel();
      },
    );
  }

  /** What the widget shows without a model: its fixed picture and its labels, unscored. */
  #showWithoutModel() {
    const image = this.getAttribute('image');
    if (image) this.#showPreview(new URL(image, document.baseURI).href);
    if (this.#scores) return; // an earlier model's results stay
    this.#ui.results.replaceChildren(...this.#labels().map((label) => bar(label, undefined, '–')));
  }

  #setImageUrl(url) {
    if (!url) return;
    const absolute = new URL(url, document.baseURI).href;
    this.#ownPicture = false;
    this.#showPreview(absolute);
    this.#embed(fetch(absolute).then((r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r.blob();
    }));
  }

  async #setImage(file) {
    if (file.type && !file.type.startsWith('image/')) return this.#fail(new Error(`${file.name} is not an image (${file.type})`));
    // Its header first: a decompression bomb is refused before the browser's decoder previews it.
    const turn = ++this.#pictureTurn;
    try {
      await checkImage(file);
    } catch (e) {
      if (turn === this.#pictureTurn) this.#fail(e);
      return;
    }
    if (turn !== this.#pictureTurn) return;
    if (this.#previewUrl) URL.revokeObjectURL(this.#previewUrl);
    this.#previewUrl = URL.createObjectURL(file);
    this.#ownPicture = true;
    this.#showPreview(this.#previewUrl);
    this.#embed(Promise.resolve(file));
  }

  #showPreview(src) {
    this.#ui.image.src = src;
    this.#ui.image.alt = 'The picture being classified';
    this.#ui.image.hidden = false;
  }

  #embed(blob) {
    const model = this.#model;
    if (!model) return;
    this.#blob = blob;
    this.#embedding = Promise.all([model, blob]).then(([m, b]) => m.embedImage(b));
    this.#score();
  }

  async #score() {
    const run = ++this.#run;
    if (!this.#model || !this.#embedding) return;
    const labels = this.#labels();
    const { status } = this.#ui;
    // A picture whose pass failed (a lost GPU device, say) is embedded again.
    if (await this.#embedding.then(() => false, () => true)) this.#embedding = Promise.all([this.#model, this.#blob]).then(([m, b]) => m.embedImage(b));
    if (run !== this.#run) return;
    if (!labels.length) {
      status.textContent = 'Give at least one label.';
      return;
    }
    status.dataset.state = 'running';
    status.textContent = 'Classifying…';
    try {
      const [model, embedding] = await Promise.all([this.#model, this.#embedding]);
      const template = this.getAttribute('template') ?? '';
      const scores = await model.scoreEmbedding(embedding, labels, { template });
      if (run !== this.#run) return;
      this.#scores = scores;
      this.#scoredBy = model;
      this.#timings = model.timings;
      this.#maps = undefined;
      this.#hideMap();
      status.dataset.state = 'done';
      this.#ui.detail.hidden = true;
      const cut = scores.filter((s) => s.truncated).map((s) => `“${s.label.slice(0, 30)}${s.label.length > 30 ? '…' : ''}”`);
      const reads = model.family === 'siglip' ? 'SigLIP reads 64 tokens' : 'CLIP reads 77 tokens';
      status.textContent = [
        // A sigmoid's single label has its own probability (the note says so); a softmax's is always 1.
        labels.length === 1 && model.scoring !== 'sigmoid' ? 'With one label the probability is always 1: the cosine says how well it fits.' : '',
        cut.length ? `Only the beginning of ${cut.join(', ')} counts: ${reads}.` : '',
      ].join(' ').trim();
      this.#render();
      this.#ui.live.textContent = `Most likely: ${scores[0].label}, ${(scores[0].score * 100).toFixed(0)}%.`;
      this.#emit('clip-result', scores.map(({ label, score, cosine }) => ({ label, score, cosine })));
    } catch (e) {
      if (run === this.#run) this.#fail(e);
    }
  }

  /**
   * The bars: each filled to its score as the model gives it (SigLIP's are each
   * label's own probability, never renormalised), or to its cosine.
   */
  #render() {
    this.#showNote();
    const scores = this.#scores;
    if (!scores) return;
    const top = Math.max(1, Number(this.getAttribute('top')) || 5);
    const raw = this.#ui.cosine.checked;
    const bars = scores.slice(0, top).map(({ label, score, cosine }) => bar(label, raw ? cosine : score, raw ? cosine.toFixed(3) : `${(score * 100).toFixed(1)}%`));
    if (this.#mapsOffered()) {
      for (const [i, item] of bars.entries()) {
        const label = scores[i].label;
        item.tabIndex = 0;
        item.setAttribute('role', 'button');
        item.setAttribute('aria-pressed', String(label === this.#mapLabel));
        item.title = `Show where “${label}” matches in the picture`;
        item.addEventListener('click', () => this.#toggleMap(label));
        item.addEventListener('keydown', (e) => {
          if (e.key !== 'Enter' && e.key !== ' ') return;
          e.preventDefault();
          this.#toggleMap(label);
        });
      }
    } else this.#hideMap();
    this.#ui.results.replaceChildren(...bars);
  }

  /**
   * Whether the bars offer heatmaps: the `heatmap` attribute, results from the
   * model in use (not one being replaced), and a model that has them (not SigLIP).
   */
  #mapsOffered() {
    const model = this.#scoredBy;
    return this.hasAttribute('heatmap') && model !== undefined && model === this.#current && model.maxHeatmapResolution > 0;
  }

  /** The line under the bars: SigLIP's percentages are each label's own; a heatmap asked of a model without any. */
  #showNote() {
    const notes = [];
    if (this.#scores && this.#scoredBy?.scoring === 'sigmoid' && !this.#ui.cosine.checked) {
      notes.push('SigLIP scores each label on its own: the percentages need not add up to 100%.');
    }
    if (this.hasAttribute('heatmap') && this.#current?.maxHeatmapResolution === 0) {
      notes.push('This model cannot show where a label is: heatmaps need a CLIP model.');
    }
    this.#ui.note.textContent = notes.join(' ');
    this.#ui.note.hidden = !notes.length;
  }

  /** Shows `label`'s heatmap over the picture, or the plain picture again if it is shown. */
  async #toggleMap(label) {
    if (label === this.#mapLabel) return this.#hideMap();
    this.#mapLabel = label;
    this.#render();
    const { heatmap, heatmapCaption, image, live } = this.#ui;
    const run = this.#run;
    heatmapCaption.hidden = false;
    heatmapCaption.textContent = `Finding where “${label}” matches…`;
    try {
      // Every label's map in one pass, made the first time one is asked for these results.
      this.#maps ??= this.#makeMaps();
      const { map, picture, layers } = await this.#maps;
      if (run !== this.#run || label !== this.#mapLabel) return;
      const i = map.labels.indexOf(label);
      drawOverlay(heatmap, picture, layers[i], map.crop, MAP_OPACITY);
      const words = `Where “${label}” matches: ${map.descriptions[i]}.`;
      heatmap.setAttribute('aria-label', words);
      heatmap.dataset.label = label;
      heatmap.hidden = false;
      image.hidden = true;
      heatmapCaption.textContent = words;
      live.textContent = words;
    } catch (e) {
      this.#maps = undefined;
      if (run === this.#run) {
        this.#hideMap();
        this.#fail(e);
      }
    }
  }

  async #makeMaps() {
    // The model whose results the bars show (#mapsOffered: the one in use).
    const model = this.#scoredBy;
    const blob = await this.#blob;
    const labels = this.#scores.map((s) => s.label);
    const template = this.getAttribute('template') ?? '';
    return mapsToDraw(model, blob, labels, template);
  }

  #hideMap() {
    const { heatmap, heatmapCaption, image } = this.#ui;
    const shown = this.#mapLabel !== undefined;
    this.#mapLabel = undefined;
    heatmap.hidden = true;
    heatmapCaption.hidden = true;
    if (image.getAttribute('src')) image.hidden = false;
    if (shown) this.#render();
  }

  #fail(e) {
    const { status, progress, detail, detailText } = this.#ui;
    const { kind, reader, detail: message } = forReaders(e);
    progress.hidden = true;
    status.dataset.state = 'error';
    status.dataset.kind = kind;
    status.textContent = reader;
    detailText.textContent = message;
    detail.hidden = false;
    console.warn(`<clip-classifier${this.id ? ` id="${this.id}"` : ''}>: ${message}`);
    this.#emit('clip-error', { message, kind, reader });
  }
}

if (!customElements.get('clip-classifier')) customElements.define('clip-classifier', ClipClassifier);
