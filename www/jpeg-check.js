// Whether this browser's own JPEG decoder gives Pillow's pixels, bit for bit.
// zune-jpeg (our Rust decoder) differs from Pillow's libjpeg-turbo by up to
// 3/255 on some pixels (its chroma upsampling rounds differently); Chromium's
// decoder is libjpeg-turbo and matched Pillow on every JPEG tried (baseline
// and progressive, 4:2:0 and 4:4:4, grayscale, CMYK). So once per worker a
// tiny 4:2:0 JPEG is decoded here and compared with the pixels Pillow 13
// decodes from it (made by tools/make_jpeg_check.py); only when equal do
// JPEGs go through the browser, else through the Rust decoder.

const JPEG = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDmdH8Frp2hTs0IJkTylBOOW449eCT+FdfF4LxosUIjQwTyKpBHLKOcjuMMB+dUtW8WeIL5baxsbays7V2MoKwl5AucL8zHGeGB+Xn0HGMe/j8Q6nrPkXep37xCIJJEr+XGdyjPyLhcFdoIx6+tZylisC+apNexld766bd1KEr91zW/k32qwxlSLp1JxhZKC1vrLWW3ZXW+jW3U/9k=';
const PILLOW_RGB = 'AgANFgQURhIpaRI0lxRGqCFkojyPRgheNiR4RjeSfEG1iDC6tEXprl3TJCQmLVQdEw0RLBkbTyUmbyMvoilSqytksU6PUxVeSDaIT0Wed0qvolnExmbSwX7LP01aIVZEMycXQTEXUjsPcD0gs05gxVJ5w2iHZitXYFKhZmO8cV+pnnejqmlnmXFvUHicNIW9RjokU0YmY1YhgFottVxU0HF3pGtiYUlWWl+hcHrBfnmQqpODrINVaF0/SoaqPp3hTkU8YFdGf3FUmXNOrlw2woJUWmMsQW9VYI23dpO1joNWsJlVwrOUX3BqU5eiTq2/XGVkZ2pfgXpdoohXtoE9v6VQQHcSOY0/b66dhqabpZlftKVsutHHWpWZWbGjZMyzX4WIb4p5g4tQpKJNu7dWnbZBSZsITKoWbag0laxkzb+yyM7ckN3tTsLBTMSeYduiUJCPe6yXl6twqLZnqMd3WpgrP6sIUcQFfMcLocE64dC00tPoacHNWdTPaM+xguK0X7ikd7+nnb6hyOLFo9S/ZLp7UNlDSdsMcd4Atuwm2r5b9dy0gLqibb63p9LYITlFasiuiM26xtfRv9DKyP/6bM2kV8N3dNZbs/RCzd8zflEAdksWARQAHDk9QjNIYT9ag8/CvOXf3MHK7+HYcb+BaMSbITxxTTVxWRwJij8IeDQHShUDPyM5WjlYYh4pkj48x9P/Tz5ojD1ah09OAB4AABkXSzOtfiq2nyRbqjI7rWZiOw4RUitGajZNoEtGqkMwfh7AmCqnpSBPsERbSCtZTUWYWS6xjDuxukJws0VSi1ZoWUNPUEM9aEs7nlpDsltAuS/Asy6jtjh4o0B5XSmLTiufc0K1m1Krtkx0v2dzVENLSVhRVF45aF8ojGEqsXQ7mS4mqVBkrHbCUjGcXUWzbVO2jmWxnGKVsV1+wY+SP2JELm02XoI4d4QqmI8mq5cmul4Lol9EppPlTEzOZ1zSemO+imefsX2hxH6awaKgOHNDQptLXI0xh58xnqUkq6wg';

const bytesOf = (base64) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/**
 * Straight RGBA8 pixels of encoded image bytes, as the browser decodes them:
 * no colour conversion (Pillow does none), no premultiplication, EXIF
 * orientation applied (as transformers' load_image does). `{ width, height, rgba }`.
 */
export async function browserDecode(bytes) {
  const bitmap = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, rgba: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
  } finally {
    bitmap.close();
  }
}

let verdict;
/** Resolves to true when this browser decodes the check JPEG exactly as Pillow does. */
export function browserJpegIsExact() {
  verdict ??= (async () => {
    try {
      const { width, height, rgba } = await browserDecode(bytesOf(JPEG));
      const want = bytesOf(PILLOW_RGB);
      if (width * height * 3 !== want.length) return false;
      for (let i = 0; i < width * height; i++) {
        for (let c = 0; c < 3; c++) if (rgba[4 * i + c] !== want[3 * i + c]) return false;
      }
      return true;
    } catch {
      return false; // no createImageBitmap or OffscreenCanvas in this worker
    }
  })();
  return verdict;
}
