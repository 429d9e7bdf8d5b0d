// Thumbnails for the photo search page: a picture scaled by the browser to fit
// a square (createImageBitmap's resize, off the main thread) and encoded as
// WebP, or JPEG where the browser cannot encode WebP.

export const THUMB_SIZE = 160;

/** A thumbnail of `file` fitting THUMB_SIZE x THUMB_SIZE, as a Blob; undefined when the browser cannot read it. */
export async function makeThumb(file, size = THUMB_SIZE) {
  let bitmap;
  try {
    // Only the width given: the browser keeps the aspect ratio. A tall picture is scaled once more by its height.
    bitmap = await createImageBitmap(file, { resizeWidth: size, resizeQuality: 'medium' });
    if (bitmap.height > size) {
      const tall = bitmap;
      bitmap = await createImageBitmap(tall, { resizeHeight: size, resizeQuality: 'medium' });
      tall.close();
    }
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const webp = await canvas.convertToBlob({ type: 'image/webp', quality: 0.8 });
    return webp.type === 'image/webp' ? webp : canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
  } catch {
    return undefined;
  } finally {
    bitmap?.close();
  }
}
