// A stand-in for the Hugging Face Hub on two more origins (no hub is
// reachable from our machines): the Hub's URL scheme, its CORS headers, its
// redirect of large files to a CDN on another origin, and scripted faults.
//
//   GET <hub>/api/models/<id>/revision/<rev>   { sha, siblings: [{ rfilename }] }
//   GET <hub>/<id>/resolve/<rev|sha>/<file>    small files: 200; .safetensors and
//                                              .webclip: 302 to <cdn>/<sha>/<id>/<file>
//   GET <cdn>/<sha>/<id>/<file>                the bytes, with Range (206) unless the repo ignores it
//
// Repos: { id: { dir, files?: { name: path }, sha, faults? } } where faults are
// 'no-range' (answers 200 with the whole body), 'truncated' (serves the weights
// cut to 60%, consistently: a short file), 'slow' (sends 64 KB every 50 ms),
// and a hostile or broken server's: 'shifted' (a 206 from 64 bytes past where
// asked, and its Content-Range says so), 'oversend' (a 206 with the asked span's
// Content-Range and no Content-Length whose body goes on past it), 'changes'
// (the file is replaced between any two requests: its ETag alternates).
// An id that is not listed gets the Hub's anonymous answer for it: 401 with
// X-Error-Code RepoNotFound. Every request is logged in `requests`.
// startStatic() is a plain static server with the same Range handling and a request log.

import { createServer } from 'node:http';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Range, Accept-Ranges, Content-Length, ETag, X-Repo-Commit, X-Error-Code, X-Linked-Size',
};

/**
 * Answers with `file`'s bytes: a 206 for a Range request (unless `faults` has
 * 'no-range'), else a 200; 'truncated' serves 60% of it, consistently;
 * 'slow' sends 64 KB every 50 ms.
 */
function sendFile(req, res, file, extra, faults = []) {
  let length = statSync(file).size;
  if (faults.includes('truncated')) length = Math.floor(length * 0.6);
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.css': 'text/css', '.md': 'text/plain; charset=utf-8' };
  const headers = { ...extra, 'Accept-Ranges': 'bytes', 'Content-Type': types[extname(file)] ?? 'application/octet-stream' };
  let [status, start, end] = [200, 0, length - 1];
  // If-Range (a browser revalidating the part it cached) with another version than this one: the whole file, as RFC 9110 says.
  const stale = req.headers['if-range'] !== undefined && req.headers['if-range'] !== extra.ETag;
  if (range && !faults.includes('no-range') && !stale) {
    start = Number(range[1]) + (faults.includes('shifted') ? 64 : 0);
    end = Math.min(range[2] ? Number(range[2]) : length - 1, length - 1);
    if (start >= length) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${length}` });
      return res.end();
    }
    headers['Content-Range'] = `bytes ${start}-${end}/${length}`;
    status = 206;
  }
  const bytes = Buffer.alloc(Math.max(0, end + 1 - start));
  const fd = openSync(file, 'r');
  readSync(fd, bytes, 0, bytes.length, start);
  closeSync(fd);
  if (faults.includes('oversend') && status === 206) {
    // Chunked: the body is the span, then 64 KB more every 5 ms, for as long as the client reads.
    res.writeHead(status, headers);
    res.write(bytes);
    const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(Buffer.alloc(65536, 7))), 5);
    res.on('close', () => clearInterval(timer));
    return;
  }
  headers['Content-Length'] = String(bytes.length);
  res.writeHead(status, headers);
  if (!faults.includes('slow')) return res.end(bytes);
  let at = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    res.write(bytes.subarray(at, at + 65536));
    at += 65536;
    if (at >= bytes.length) {
      clearInterval(timer);
      res.end();
    }
  }, 50);
  res.on('close', () => clearInterval(timer));
}

/**
 * A plain static server for `root` on a free port, logging every request
 * (`requests`: { path, range }): for tests that count what a page fetches,
 * its workers included. `htmlHeaders` go with every HTML page (a CSP);
 * `isolated` adds COOP and COEP to every response.
 */
export async function startStatic(root, { htmlHeaders = {}, isolated = false } = {}) {
  // COOP + COEP on every response: pages are cross-origin isolated (the threaded engine build).
  const isolation = isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push({ path, range: req.headers.range });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'Range' });
      return res.end();
    }
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    let ok = file.startsWith(root);
    try {
      ok &&= statSync(file).isFile();
    } catch {
      ok = false;
    }
    if (!ok) {
      res.writeHead(404);
      return res.end();
    }
    // CORS as a CDN sends it: the package may be used from another origin.
    const extra = file.endsWith('.html') ? htmlHeaders : {};
    sendFile(req, res, file, { 'Cache-Control': 'no-store', 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Range, Content-Length', ...isolation, ...extra });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}/`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

export async function startHub(repos) {
  const requests = [];
  const listen = (handler) =>
    new Promise((resolve) => {
      const server = createServer(handler);
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
  const hub = await listen((req, res) => serveHub(req, res));
  const cdn = await listen((req, res) => serveCdn(req, res));
  const hubUrl = `http://127.0.0.1:${hub.address().port}`;
  const cdnUrl = `http://127.0.0.1:${cdn.address().port}`;

  /** The repo's files: name → path (its directory's files, plus any listed). */
  const filesOf = (repo) => {
    const files = {};
    for (const name of readdirSync(repo.dir)) if (statSync(join(repo.dir, name)).isFile()) files[name] = join(repo.dir, name);
    return { ...files, ...repo.files };
  };

  const log = (origin, req) => requests.push({ origin, method: req.method, path: decodeURIComponent(req.url.split('?')[0]), range: req.headers.range });

  function preflight(req, res) {
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, { ...CORS, 'Access-Control-Allow-Headers': 'Range', 'Access-Control-Allow-Methods': 'GET, HEAD' });
    res.end();
    return true;
  }

  function notFound(res, code) {
    res.writeHead(code === 'RepoNotFound' ? 401 : 404, { ...CORS, 'X-Error-Code': code, 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: code }));
  }

  function serveHub(req, res) {
    log('hub', req);
    if (preflight(req, res)) return;
    const path = decodeURIComponent(req.url.split('?')[0]);
    let match = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    if (match) {
      const repo = repos[match[1]];
      if (!repo) return notFound(res, 'RepoNotFound');
      if (match[2] !== 'main' && match[2] !== repo.sha) return notFound(res, 'RevisionNotFound');
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ id: match[1], sha: repo.sha, siblings: Object.keys(filesOf(repo)).map((rfilename) => ({ rfilename })) }));
    }
    match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (!match) return notFound(res, 'EntryNotFound');
    const [, id, revision, name] = match;
    const repo = repos[id];
    if (!repo) return notFound(res, 'RepoNotFound');
    if (revision !== 'main' && revision !== repo.sha) return notFound(res, 'RevisionNotFound');
    const file = filesOf(repo)[name];
    if (!file) return notFound(res, 'EntryNotFound');
    if (/\.(safetensors|webclip)$/.test(name)) {
      res.writeHead(302, { ...CORS, Location: `${cdnUrl}/${repo.sha}/${id}/${name}`, 'X-Repo-Commit': repo.sha });
      return res.end();
    }
    res.writeHead(200, { ...CORS, 'Content-Type': 'application/json', 'X-Repo-Commit': repo.sha, ETag: `"${repo.sha}-${name}"` });
    res.end(readFileSync(file));
  }

  function serveCdn(req, res) {
    log('cdn', req);
    if (preflight(req, res)) return;
    const match = /^\/([0-9a-f]{40})\/([^/]+\/[^/]+)\/(.+)$/.exec(decodeURIComponent(req.url.split('?')[0]));
    const repo = match && repos[match[2]];
    const file = repo && match[1] === repo.sha && filesOf(repo)[match[3]];
    if (!file) {
      res.writeHead(404, CORS);
      return res.end();
    }
    // 'changes': the file is replaced between any two requests (its ETag alternates).
    const version = repo.faults?.includes('changes') ? `-v${(repo.served = (repo.served ?? 0) + 1) % 2 ? 1 : 2}` : '';
    sendFile(req, res, file, { ...CORS, ETag: `"${repo.sha}${version}"` }, repo.faults ?? []);
  }

  return {
    repos,
    url: hubUrl,
    cdnUrl,
    requests,
    /** Requests for weight files (the CDN's, and the Hub's resolve of weights). */
    weightRequests: () => requests.filter((r) => r.origin === 'cdn' || /\/resolve\/.*\.(safetensors|webclip)$/.test(r.path)),
    async close() {
      for (const server of [hub, cdn]) server.closeAllConnections();
      await Promise.all([hub, cdn].map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}
