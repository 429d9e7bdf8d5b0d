// Pictures as the page hands them over (File, Blob, ImageBitmap, <img>,
// ImageData, canvas), turned into what the worker decodes: shared by
// www/webclip.js and www/search-index.js.

/**
 * What the worker needs to make an engine Image. Encoded bytes are preferred
 * (the Rust decoder matches Pillow exactly); canvas pixels are the fallback.
 */
export async function imagePayload(image) {
  if (image instanceof Blob) {
    const bytes = await image.arrayBuffer();
    return { payload: { kind: 'encoded', bytes, name: image.name ?? 'blob' }, transfer: [bytes] };
  }
  if (image instanceof ImageData) {
    const data = image.data.slice().buffer; // a copy: the caller keeps its ImageData
    return { payload: { kind: 'rgba', width: image.width, height: image.height, data, name: 'ImageData' }, transfer: [data] };
  }
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    const src = image.currentSrc || image.src;
    const name = src.startsWith('data:') ? 'data URL' : src.split('/').pop();
    try {
      const response = await fetch(src);
      if (response.ok) {
        const bytes = await response.arrayBuffer();
        return { payload: { kind: 'encoded', bytes, name }, transfer: [bytes] };
      }
    } catch {
      // Cross-origin without CORS, or a revoked blob URL: use the pixels.
    }
    if (!image.complete || !image.naturalWidth) await image.decode();
    return bitmapPayload(await createImageBitmap(image), name);
  }
  if (image instanceof ImageBitmap) return bitmapPayload(await createImageBitmap(image), 'ImageBitmap');
  try {
    return bitmapPayload(await createImageBitmap(image), image?.constructor?.name ?? 'image');
  } catch {
    throw new Error('the image must be a File, Blob, ImageBitmap, HTMLImageElement, ImageData or canvas');
  }
}

// The bitmap is a copy, moved to the worker: the caller's stays usable.
const bitmapPayload = (bitmap, name) => ({ payload: { kind: 'bitmap', bitmap, name }, transfer: [bitmap] });
