// What a reader is told when something fails: one plain sentence of what
// happened and what they can do. The engine's and loader's messages name the
// file, tensor, size and limit, which an article's author needs and a reader
// cannot act on; they stay available as the detail (the widget's and the
// page's "Details" disclosure, the `clip-error` event, the console).
//
// Messages are matched by the prefixes and phrases their sources use:
// src/error.rs ("gpu: ", "image NAME: ", "tensor NAME: ", "config: ",
// "tokenizer: "), www/readers.js and www/hub.js (downloads), www/images.js,
// www/worker.js (lost devices), src/engine/cpu (out of memory).

/** Each kind of failure: how to recognise its message, and what a reader is told. */
const KINDS = [
  {
    kind: 'cancelled',
    test: (m, name) => name === 'AbortError' || /\b(loading was )?cancel+ed\b/i.test(m),
    reader: 'Loading was stopped.',
  },
  {
    kind: 'missing',
    test: (m) => /HTTP 40[34]\b|HTTP 410\b/.test(m),
    reader: 'The model was not found where this page looks for it. Check its address, or tell the page’s author.',
  },
  {
    kind: 'network',
    test: (m) => /could not be fetched|could not be reached|download broke off|truncated download|HTTP \d{3}|Failed to fetch|NetworkError|Content-Range/i.test(m),
    reader: 'The model could not be downloaded. Check the internet connection, then reload the page.',
  },
  {
    kind: 'memory',
    test: (m) => /out of memory|memory access out of bounds|Array buffer allocation failed|a WebAssembly page may use/i.test(m),
    reader: 'The model needs more memory than this browser can give it. Close other tabs, then reload the page.',
  },
  {
    kind: 'picture',
    test: (m) => /^image |is not an image|pixels cannot be read|could not decode|the image must be/i.test(m),
    reader: 'This picture could not be read. Try a JPEG, PNG, WebP or GIF file.',
  },
  {
    kind: 'engine',
    test: (m) => /^gpu: |WebGPU|device was lost|the webclip worker failed/i.test(m),
    reader: 'This browser could not start the model. Reload the page; if it happens again, try another browser.',
  },
  {
    kind: 'model',
    test: (m) => /^(tensor |config: |tokenizer: )|safetensors|webclip model file|not a Hub model|missing from|no CLIP weights|model was disposed/i.test(m),
    reader: 'The model is damaged or is not one this page can use. The details below are for the page’s author.',
  },
];

const OTHER = 'Something went wrong. Reload the page to try again.';

/**
 * `error` (an Error or a message) for a reader:
 * `{ kind, reader, detail }`: kind is 'cancelled' | 'missing' | 'network' | 'memory' |
 * 'picture' | 'engine' | 'model' | 'other'; reader the sentence to show;
 * detail the original message, for the author.
 */
export function forReaders(error) {
  const detail = String(error?.message ?? error ?? '');
  const found = KINDS.find(({ test }) => test(detail, error?.name));
  return { kind: found?.kind ?? 'other', reader: found?.reader ?? OTHER, detail };
}
