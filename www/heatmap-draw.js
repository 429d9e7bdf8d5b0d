// Draws a picture with one label's heatmap over it, for the page's "Where?"
// view and the widget. The maps come from `ClipModel.heatmap(..., { overlay })`:
// each label's RGBA layer (viridis, drawn in wasm by src/image/heatmap_layer.rs)
// covers `crop`, the part of the picture the grid saw; the rest is dimmed.

/** Side in px of the layers asked of the worker: smooth at any displayed size
 * (the canvas scales them), 256 KB of RGBA each. */
const OVERLAY_PX = 256;

/** Viridis' stops as CSS (the same 9 colours as heatmap_layer.rs), for the legend. */
export const VIRIDIS_CSS = 'linear-gradient(to right, #440154, #472c7a, #3b518b, #2c718e, #21908d, #27ad81, #5cc863, #aadc32, #fde725)';

/**
 * Every label's map of `image` (a Blob) in one pass, ready to draw: `{ map,
 * picture, layers }`, the picture and each label's overlay as ImageBitmaps.
 */
export async function mapsToDraw(model, image, labels, template) {
  const map = await model.heatmap(image, labels, { template, overlay: OVERLAY_PX });
  const layers = map.overlays.map(({ width, height, data }) => createImageBitmap(new ImageData(data, width, height)));
  return { map, picture: await createImageBitmap(image), layers: await Promise.all(layers) };
}

/**
 * Draws `picture` (an image element or bitmap, at its natural size) on
 * `canvas`, at most `maxWidth` CSS px wide, with `layer` over `crop` at
 * `opacity` (0-1) and the rest of the picture dimmed.
 */
export function drawOverlay(canvas, picture, layer, crop, opacity) {
  const width = picture.naturalWidth ?? picture.width;
  const height = picture.naturalHeight ?? picture.height;
  // Drawn at up to 1024 px on the long side: sharp enough at 2x, small for a phone.
  const scale = Math.min(1, 1024 / Math.max(width, height));
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const g = canvas.getContext('2d');
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = 'high';
  g.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const [x, y, w, h] = [crop.x, crop.y, crop.width, crop.height].map((v) => v * scale);
  // Outside the crop the model saw nothing: dim it.
  g.fillStyle = 'rgba(0, 0, 0, 0.55)';
  g.beginPath();
  g.rect(0, 0, canvas.width, canvas.height);
  g.rect(x, y, w, h);
  g.fill('evenodd');
  g.globalAlpha = opacity;
  g.drawImage(layer, x, y, w, h);
  g.globalAlpha = 1;
}

/** What the legend's two ends mean for `map`: probabilities among several labels, or one label's cosines. */
export function legendOf(map, labelIndex) {
  if (map.labels.length > 1) return { low: '0%', high: '100%', caption: 'probability of this label among the labels, per patch' };
  const c = map.cosines[labelIndex];
  let [low, high] = [Infinity, -Infinity];
  for (const v of c) [low, high] = [Math.min(low, v), Math.max(high, v)];
  return { low: low.toFixed(2), high: high.toFixed(2), caption: 'cosine similarity per patch (one label: its own range)' };
}
