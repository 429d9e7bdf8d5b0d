// Byte sources for the engine: `{ name, length, read(offset, length) -> Uint8Array,
// done?() }`. A URL is read with HTTP Range requests, a File (picked, or a
// cached model) by slices; the engine asks for one tensor's bytes at a time,
// so the whole file is never in memory. No wasm, no GPU: runs in Node too.
//
// `fetch` may be passed in (tests); it defaults to the global one, and is
// always called as a plain function (a browser's fetch refuses another `this`).

/** An HTTP failure; `status` tells a missing file (404) from the rest. */
export class HttpError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** This page's or worker's origin; undefined in Node. */
const ownOrigin = () => globalThis.location?.origin;

/**
 * The body of `url` (or, with `headers`, the Response). `describe(what,
 * response)` words HTTP failures (the Hub's own wording); a dropped
 * connection and an aborted load are told apart.
 */
export async function fetchBytes(url, { signal, headers, describe, fetch = globalThis.fetch } = {}) {
  let response;
  try {
    response = await fetch(url, { signal, headers });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`${url}: could not be fetched (${e.message}); check the network connection${url.origin !== ownOrigin() ? ' (or the server does not allow cross-origin reads: CORS)' : ''}`);
  }
  if (!response.ok) {
    const message = describe ? describe(String(url), response) : `${url}: HTTP ${response.status} ${response.statusText}`.trim();
    throw new HttpError(message, response.status);
  }
  return headers ? response : bodyBytes(url, response, signal);
}

async function bodyBytes(url, response, signal) {
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`${url}: the download broke off (${e.message})`);
  }
}

/**
 * Bytes read so far, reported a few times a second (one report per read would
 * flood the page), with the mean rate since the reader was made, in bytes per second.
 */
function progressCounter(file, progress, extra = {}) {
  let loaded = 0;
  let lastReport = 0;
  const started = performance.now();
  return {
    add(n, total, force = false) {
      loaded += n;
      const now = performance.now();
      if (force || now - lastReport > 100) {
        lastReport = now;
        progress({ loaded, total, file, rate: loaded / Math.max((now - started) / 1000, 1e-3), ...extra });
      }
    },
  };
}

/**
 * The engine's source for a File (picked, or a cached model): slices, read on
 * demand. `fromCache` is passed on in the progress reports.
 */
export function fileReader(file, { progress = () => {}, signal, fromCache } = {}) {
  const counter = progressCounter(file.name, progress, fromCache === undefined ? {} : { fromCache });
  return {
    name: file.name,
    length: file.size,
    async read(offset, length) {
      signal?.throwIfAborted();
      const bytes = new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
      counter.add(bytes.length, file.size, offset + length >= file.size);
      return bytes;
    },
  };
}

// Bytes fetched per Range request at least, so that neighbouring small tensors
// (biases, norms) share one request. Kept small: an encoder layer is read in one
// request of its exact span anyway (the engine's Weights::prefetch), and bytes
// past a read's end are often not the next ones read (measured on ViT-B/32 q8:
// 8 MB chunks asked 1.46x the file's bytes; 1 MB chunks, reading in the
// file's order and reusing a kept block's tail: 1.01x).
export const CHUNK = 1 << 20;

/**
 * The engine's source for a URL: HTTP Range requests of at least CHUNK bytes,
 * the last one kept to serve the reads that follow. `length` comes from the
 * first response's Content-Range, which must start where asked. A server
 * that ignores Range (a 200 with the whole body) is read once into memory and
 * served from there. `describe`: as for `fetchBytes`.
 */
export function rangeReader(url, { progress = () => {}, signal, describe, fetch } = {}) {
  const name = decodeURIComponent(url.pathname.split('/').pop());
  const counter = progressCounter(name, progress);
  let block = { start: 0, bytes: new Uint8Array(0) };
  const reader = {
    // How errors name the file: its path on this site, or its whole URL elsewhere.
    name: url.origin === ownOrigin() ? decodeURIComponent(url.pathname) : String(url),
    url: String(url),
    length: undefined,
    async read(offset, length) {
      const end = offset + length;
      if (offset >= block.start && end <= block.start + block.bytes.length) {
        return block.bytes.slice(offset - block.start, end - block.start);
      }
      // A read that starts inside the kept block takes its tail and fetches only what follows.
      const blockEnd = block.start + block.bytes.length;
      const kept = offset >= block.start && offset < blockEnd ? block.bytes.subarray(offset - block.start) : new Uint8Array(0);
      const from = offset + kept.length;
      const last = Math.min(Math.max(end, offset + CHUNK), reader.length ?? Infinity) - 1;
      const response = await fetchBytes(url, { signal, describe, fetch, headers: { Range: `bytes=${from}-${last}` } });
      const bytes = await bodyBytes(url, response, signal);
      if (response.status === 206) {
        // A cross-origin server may not expose Content-Range: then the body is taken as asked.
        const range = response.headers.get('Content-Range');
        const sent = range && /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(range);
        if (range && (!sent || Number(sent[1]) !== from)) {
          throw new Error(`${url}: asked for bytes ${from}-${last}, the server sent Content-Range: ${range}`);
        }
        if (sent && sent[2] !== '*') reader.length = Number(sent[2]);
        const joined = new Uint8Array(kept.length + bytes.length);
        joined.set(kept);
        joined.set(bytes, kept.length);
        block = { start: offset, bytes: joined };
      } else {
        // The whole file came: keep it all.
        reader.length = bytes.length;
        block = { start: 0, bytes };
      }
      counter.add(bytes.length, reader.length, end >= reader.length);
      if (end > block.start + block.bytes.length) {
        throw new Error(`${url}: ended at ${block.start + block.bytes.length} bytes, ${end} needed (truncated download?)`);
      }
      return block.bytes.slice(offset - block.start, end - block.start);
    },
    done() {
      block = { start: 0, bytes: new Uint8Array(0) };
    },
  };
  return reader;
}
