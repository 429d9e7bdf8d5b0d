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

/**
 * The most bytes read whole from a server, by what is read: a larger answer is
 * refused before its body is read (by Content-Length), or as soon as it has sent
 * more. Real files are far smaller: CLIP's config 4.5 KB, its tokenizer 2.2 MB (a
 * SigLIP 2 tokenizer 34 MB), a Hub model description tens of KB.
 */
export const LIMITS = {
  'config.json': 1 << 20,
  'preprocessor_config.json': 1 << 20,
  'tokenizer.json': 64 << 20,
  /** The Hub's reply to /api/models/<id>/revision/<rev>. */
  hubApi: 16 << 20,
  /** A weights file from a server that ignores Range (it comes whole, into memory). */
  wholeFile: 1 << 30,
};

const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

/** A URL path for people: percent-escapes decoded, or kept as they are where they do not decode (a literal `%`). */
export function readablePath(path) {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** This page's or worker's origin; undefined in Node. */
const ownOrigin = () => globalThis.location?.origin;

/**
 * The body of `url`, at most `limit` bytes (or, with `headers`, the Response).
 * `describe(what, response)` words HTTP failures (the Hub's own wording); a
 * dropped connection and an aborted load are told apart.
 */
export async function fetchBytes(url, { signal, headers, describe, limit, fetch = globalThis.fetch } = {}) {
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
  if (headers) return response;
  if (limit === undefined) throw new Error(`${url}: internal error: a whole-file read needs a size limit`);
  return bodyBytes(url, response, signal, limit);
}

/**
 * The body of `response`, refused once it passes `limit` bytes: by its
 * Content-Length before anything is read, else as soon as the stream has sent
 * more (the rest is not read). `why` says what the limit is for.
 */
export async function bodyBytes(url, response, signal, limit, why = 'the most this file may be') {
  const tooLarge = (declared) =>
    new Error(`${url}: the server ${declared === undefined ? 'sent more than' : `announced ${mb(declared)},`} ${declared === undefined ? '' : 'more than '}${mb(limit)} (${why})`);
  const declared = Number(response.headers.get('Content-Length') ?? NaN);
  if (declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(declared);
  }
  const chunks = [];
  let total = 0;
  try {
    const stream = response.body?.getReader();
    if (!stream) return new Uint8Array(0);
    for (;;) {
      const { done, value } = await stream.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await stream.cancel().catch(() => {});
        throw tooLarge(undefined);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    if (total > limit) throw e;
    throw new Error(`${url}: the download broke off (${e.message})`);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
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
 * What identifies one version of a file in a server's reply: its ETag where the
 * server exposes one, else its Last-Modified (CORS exposes it always), else nothing.
 */
function versionOf(response) {
  const etag = response.headers.get('ETag');
  if (etag) return `ETag ${etag}`;
  const modified = response.headers.get('Last-Modified');
  return modified ? `Last-Modified ${modified}` : undefined;
}

/**
 * The engine's source for a URL: HTTP Range requests of at least CHUNK bytes,
 * the last one kept to serve the reads that follow. Nothing a server sends is
 * taken on trust:
 * - a 206's Content-Range must cover the asked span from where it was asked,
 *   its total must stay the file's length, and its body must be the span it
 *   announces (a server that does not expose Content-Range, cross-origin, may
 *   send at most what was asked);
 * - no body is read past what was asked: a reply that keeps streaming is cut off;
 * - the file is pinned: its ETag (or Last-Modified) and length must stay those
 *   of the first reply, so one load never mixes two versions of a file
 *   replaced on the server meanwhile;
 * - a server that ignores Range (a 200 with the whole body) is read once
 *   into memory, up to LIMITS.wholeFile, and served from there; a 200 after a
 *   206 means the file changed or the server changed its mind, and is refused.
 * `describe`: as for `fetchBytes`.
 */
export function rangeReader(url, { progress = () => {}, signal, describe, fetch } = {}) {
  const name = readablePath(url.pathname.split('/').pop());
  const counter = progressCounter(name, progress);
  let block = { start: 0, bytes: new Uint8Array(0) };
  // The first reply's version and whether it honoured Range.
  let pinned;
  const changed = (what) => new Error(`${url}: the file changed on the server during the load (${what}); load it again`);
  const reader = {
    // How errors name the file: its path on this site, or its whole URL elsewhere.
    name: url.origin === ownOrigin() ? readablePath(url.pathname) : String(url),
    url: String(url),
    length: undefined,
    async read(offset, length) {
      const end = offset + length;
      if (offset >= block.start && end <= block.start + block.bytes.length) {
        return block.bytes.slice(offset - block.start, end - block.start);
      }
      if (reader.length !== undefined && end > reader.length) {
        throw new Error(`${url}: ended at ${reader.length} bytes, ${end} needed (truncated download?)`);
      }
      // A read that starts inside the kept block takes its tail and fetches only what follows.
      const blockEnd = block.start + block.bytes.length;
      const kept = offset >= block.start && offset < blockEnd ? block.bytes.subarray(offset - block.start) : new Uint8Array(0);
      const from = offset + kept.length;
      const last = Math.min(Math.max(end, offset + CHUNK), reader.length ?? Infinity) - 1;
      const response = await fetchBytes(url, { signal, describe, fetch, headers: { Range: `bytes=${from}-${last}` } });
      const version = versionOf(response);
      if (pinned && pinned.version !== version) {
        await response.body?.cancel().catch(() => {});
        throw changed(`${pinned.version ?? 'no version'} at first, now ${version ?? 'none'}`);
      }
      if (response.status === 206) {
        if (pinned && !pinned.ranges) throw changed('it answered Range requests only after sending the whole file');
        const asked = last - from + 1;
        // A cross-origin server may not expose Content-Range: then the body may be at most what was asked.
        const range = response.headers.get('Content-Range');
        let bytes;
        if (range) {
          const sent = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
          const [start, stop] = sent ? [Number(sent[1]), Number(sent[2])] : [];
          const total = sent && sent[3] !== '*' ? Number(sent[3]) : undefined;
          if (!sent || start !== from || stop < start || stop > last || (total !== undefined && stop >= total)) {
            await response.body?.cancel().catch(() => {});
            throw new Error(`${url}: asked for bytes ${from}-${last}, the server sent Content-Range: ${range}`);
          }
          if (reader.length !== undefined && total !== undefined && total !== reader.length) {
            await response.body?.cancel().catch(() => {});
            throw changed(`${reader.length} bytes at first, now ${total}`);
          }
          if (total !== undefined) reader.length = total;
          bytes = await bodyBytes(url, response, signal, stop - start + 1, `its Content-Range: ${range}`);
          if (bytes.length !== stop - start + 1) {
            throw new Error(`${url}: the server sent ${bytes.length} bytes for Content-Range: ${range} (${stop - start + 1}); the download broke off or the server is faulty`);
          }
        } else {
          bytes = await bodyBytes(url, response, signal, asked, `bytes ${from}-${last} were asked`);
        }
        const joined = new Uint8Array(kept.length + bytes.length);
        joined.set(kept);
        joined.set(bytes, kept.length);
        block = { start: offset, bytes: joined };
        counter.add(bytes.length, reader.length, end >= reader.length);
      } else {
        if (pinned?.ranges) {
          await response.body?.cancel().catch(() => {});
          throw changed('it sent the whole file after answering Range requests');
        }
        // The whole file came: keep it all.
        const bytes = await bodyBytes(url, response, signal, LIMITS.wholeFile, 'the server ignores Range requests, so the file is read whole into memory, up to this size; serve it with Range support');
        reader.length = bytes.length;
        block = { start: 0, bytes };
        counter.add(bytes.length, reader.length, true);
      }
      pinned ??= { version, ranges: response.status === 206 };
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
