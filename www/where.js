// The demo page's "Where?" view: after a classification, the reader picks a
// label and sees its heatmap over the picture (www/heatmap-draw.js), with an
// opacity slider, a legend and the map in words for screen readers. The map
// runs only when asked (it costs a larger vision pass than classifying), once
// for all labels of the results; picking another label redraws without a pass.
// A model without heatmaps (SigLIP: `maxHeatmapResolution` 0) gets a sentence
// saying so instead of the controls, so nothing fails after a click.

import { VIRIDIS_CSS, drawOverlay, legendOf, mapsToDraw } from './heatmap-draw.js';

const $ = (id) => document.getElementById(id);

/** The last computed maps: for which inputs, and their layers. */
let shown;
/** The computation in flight, if any: asking again waits for it. */
let pending;
/** The inputs of the latest results (`{ model, image, labels, template }`). */
let inputs;
let onFailure = () => {};

/** Wires the view's controls; `failure(e)` reports an engine error as the page does. */
export function setUpWhere(failure) {
  onFailure = failure;
  $('where-show').addEventListener('click', () => show());
  $('where-label').addEventListener('change', () => (shown ? draw() : show()));
  $('where-opacity').addEventListener('input', () => shown && draw());
  $('where-legend-bar').style.background = VIRIDIS_CSS;
}

/** New results: the view offers their labels (or says their model has no maps); an older map is dropped. */
export function resetWhere(next) {
  shown = pending = undefined;
  $('where-figure').hidden = true;
  $('where-text').textContent = '';
  $('where').hidden = false;
  const available = next.model.maxHeatmapResolution > 0;
  $('where-controls').hidden = !available;
  $('where-unavailable').hidden = available;
  // Without maps the label list is left as it was: a later CLIP model's results keep the reader's choice.
  inputs = available ? next : undefined;
  if (!available) return;
  const select = $('where-label');
  const keep = select.value;
  select.replaceChildren(...next.labels.map((l) => Object.assign(document.createElement('option'), { value: l, textContent: l })));
  if (next.labels.includes(keep)) select.value = keep;
}

/** Hides the view (no results to point at). */
export function hideWhere() {
  inputs = shown = pending = undefined;
  $('where').hidden = true;
}

/** Draws the chosen label's map, computing every label's maps first if these results have none. */
function show() {
  if (shown) return draw();
  pending ??= compute();
  return pending;
}

async function compute() {
  if (!inputs) return;
  const asked = inputs;
  const button = $('where-show');
  button.disabled = true;
  $('where-text').textContent = 'Computing where each label matches…';
  try {
    const maps = await mapsToDraw(asked.model, asked.image, asked.labels, asked.template);
    if (asked !== inputs) return; // the results changed meanwhile
    shown = maps;
    draw();
  } catch (e) {
    if (asked !== inputs) return;
    $('where-text').textContent = '';
    pending = undefined; // asking again tries again
    onFailure(e);
  } finally {
    button.disabled = false;
  }
}

function draw() {
  const { map, picture, layers } = shown;
  const i = Math.max(0, map.labels.indexOf($('where-label').value));
  const opacity = Number($('where-opacity').value) / 100;
  const canvas = $('where-canvas');
  drawOverlay(canvas, picture, layers[i], map.crop, opacity);
  const label = map.labels[i];
  const words = `“${label}”: ${map.descriptions[i]}.`;
  canvas.setAttribute('aria-label', `Heatmap of ${words}`);
  Object.assign(canvas.dataset, { label, rows: map.rows, cols: map.cols });
  const legend = legendOf(map, i);
  $('where-legend-low').textContent = legend.low;
  $('where-legend-high').textContent = legend.high;
  $('where-legend-caption').textContent = `${legend.caption}; a ${map.rows} × ${map.cols} grid over the square the model saw`;
  $('where-text').textContent = words;
  $('where-figure').hidden = false;
}
