// Pictures in the worker: from what the page sent (encoded bytes, RGBA pixels,
// an ImageBitmap) to the engine's Image, through the decoder that gives
// Pillow's pixels; and the batching of pictures that wait for the same model.

import { init } from './wasm.js';
import { browserDecode, browserJpegIsExact } from './jpeg-check.js';

/** Runs `use` on the picture as an engine Image, then frees its wasm memory. */
export async function withImage(image, use) {
  const picture = await toImage(image);
  try {
    return await use(picture);
  } finally {
    picture.free();
  }
}

/**
 * The picture as the engine's Image. Encoded bytes are decoded as Pillow
 * does (see `decodeEncoded`); bitmaps are read back as RGBA.
 */
export async function toImage(image) {
  const { Image } = await init();
  switch (image.kind) {
    case 'encoded':
      return (await decodeEncoded(new Uint8Array(image.bytes), image.name)).picture;
    case 'rgba':
      return Image.fromRgba(image.width, image.height, new Uint8Array(image.data), image.name);
    case 'bitmap': {
      const { bitmap, name } = image;
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      let pixels;
      try {
        pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
      } catch (e) {
        throw new Error(`image ${name}: its pixels cannot be read (${e.message}); a cross-origin image needs CORS`);
      }
      return Image.fromRgba(pixels.width, pixels.height, new Uint8Array(pixels.data.buffer), name);
    }
    default:
      throw new Error(`unknown image kind ${image.kind}`);
  }
}

/**
 * `{ picture, decoder }`: JPEG through the browser's decoder when it is
 * proven Pillow-exact here (www/jpeg-check.js), after the Rust header checks
 * (a decompression bomb is refused before any decoder runs); everything else,
 * or with `decoder` 'webclip', through the Rust decoder.
 */
export async function decodeEncoded(bytes, name, decoder = 'auto') {
  const { Image } = await init();
  if (decoder !== 'webclip' && Image.jpegSize(bytes, name) && (await browserJpegIsExact())) {
    let pixels;
    try {
      pixels = await browserDecode(bytes);
    } catch (e) {
      throw new Error(`image ${name}: could not decode Jpeg (${e.message})`);
    }
    return { picture: Image.fromRgba(pixels.width, pixels.height, pixels.rgba, name), decoder: 'browser' };
  }
  return { picture: Image.decode(bytes, name), decoder: 'webclip' };
}

/**
 * Batches pictures by key (a model id): `join(key, picture)` resolves to
 * `{ embedding, timings }` of that picture, computed in one pass with every
 * other picture of the same key that arrives before that pass starts.
 * `pass(key, take)` is called once per batch, when its first picture comes;
 * it calls `take()` as the pass starts (later pictures start the next batch),
 * which returns the batch's pictures, and resolves to `{ embeddings, timings }`
 * in their order.
 */
export function imageBatcher(pass) {
  const waiting = new Map();
  return function join(key, picture) {
    let batch = waiting.get(key);
    if (!batch) {
      batch = { pictures: [], waiters: [] };
      waiting.set(key, batch);
      const take = () => {
        waiting.delete(key);
        return batch.pictures;
      };
      pass(key, take).then(
        ({ embeddings, timings }) => batch.waiters.forEach((w, i) => w.resolve({ embedding: embeddings[i], timings })),
        (e) => batch.waiters.forEach((w) => w.reject(e)),
      );
    }
    batch.pictures.push(picture);
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  };
}
