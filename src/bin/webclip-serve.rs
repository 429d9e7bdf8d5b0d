//! `webclip-serve`: a static file server for the demo page and its tests
//! (`http://127.0.0.1:8080/` by default). Standard library only, a thread per
//! connection up to [`serve::MAX_CONNECTIONS`] (beyond, a 503 at once: a
//! flood of connections cannot exhaust threads or memory), GET and HEAD. Request paths cannot climb out of the root (no
//! `..`), but symlinks inside it are followed wherever they point: the
//! fixtures share one tokenizer.json, and a large local model can be linked
//! in (`target/vitb32 -> /data/vitb32`) without copying it.
//!
//! It binds to loopback only: browsers grant WebGPU to `http://localhost`
//! and `127.0.0.1` as secure contexts, and nothing here is meant for a network.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    serve::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod serve {
    use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Component, Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Connections served at once, each on its own thread. The page and a test
    /// open a dozen; beyond this many, new ones get a 503 and are closed.
    pub const MAX_CONNECTIONS: usize = 64;
    /// Header lines one request may have.
    const MAX_HEADER_LINES: usize = 100;
    /// A client silent (or not reading) this long is dropped.
    const IDLE: Duration = Duration::from_secs(30);
    /// A request's head (its line and headers) must arrive whole this soon after its
    /// first byte: a browser's takes milliseconds; one byte every 29 s would hold a
    /// connection, and with 64 of them the server, for as long as the sender likes.
    pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
    /// After an answer that ends a connection before its request was read whole,
    /// what the client still sends is read and dropped for up to this long (and
    /// [`LINGER_BYTES`]) before closing: see [`close_after_answer`].
    const LINGER: Duration = Duration::from_secs(2);
    const LINGER_BYTES: usize = 1 << 20;
    /// A failed accept (out of file descriptors, say) is retried after this pause:
    /// retrying at once would spin a core until a connection closes.
    const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

    const USAGE: &str = "usage: webclip-serve [--port N] [--root DIR] [--not-isolated]
  (defaults: 8080, the current directory; --not-isolated leaves out COOP and COEP,
  as on an article embedding the widget: one thread for the CPU engine)";

    /// Whether responses carry [`ISOLATION`] (set once, from the command line).
    static ISOLATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    pub fn main() {
        let (port, root, isolated) = match parse_args(std::env::args().skip(1)) {
            Ok(v) => v,
            Err(message) => {
                eprintln!("webclip-serve: {message}\n{USAGE}");
                std::process::exit(2);
            }
        };
        if !root.is_dir() {
            eprintln!("webclip-serve: {}: not a directory", root.display());
            std::process::exit(1);
        }
        ISOLATED.store(isolated, Ordering::SeqCst);
        let root = Arc::new(root);
        let listener = match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("webclip-serve: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        };
        // Print the bound port (port 0 picks a free one), so scripts can read it.
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let shown = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        println!("serving {} on http://127.0.0.1:{port}/", shown.display());
        let open = Arc::new(AtomicUsize::new(0));
        for stream in listener.incoming() {
            let mut stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    eprintln!("webclip-serve: accept failed ({e}); retrying shortly");
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                busy(&mut stream);
                continue;
            }
            let (root, done) = (Arc::clone(&root), Connection(Arc::clone(&open)));
            let spawned = std::thread::Builder::new().name("connection".into()).spawn(move || {
                // Counted until this thread ends. A client hanging up
                // mid-response is not the server's problem.
                let _open = done;
                let _ = handle(stream, &root, port);
            });
            if let Err(e) = spawned {
                eprintln!("webclip-serve: no thread for a connection: {e}");
            }
        }
    }

    /// One open connection, counted in `open` until dropped (also when its
    /// thread could not start: the closure, and this, are dropped then).
    struct Connection(Arc<AtomicUsize>);

    impl Drop for Connection {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Answers a connection over the limit from the accepting thread, without
    /// reading it (briefly: a client that does not read is not waited for).
    fn busy(stream: &mut TcpStream) {
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = respond_error(
            stream,
            503,
            "Service Unavailable",
            &format!("more than {MAX_CONNECTIONS} connections at once; retry"),
        );
        // Briefly: this runs on the accepting thread.
        close_after_answer(stream, Duration::from_millis(20));
    }

    /// Ends a connection whose request may be partly unread, after its answer
    /// was written. Closing a socket with bytes still unread makes the kernel
    /// send a reset, and a reset can make the client drop the answer it has
    /// not read yet (RFC 9112 section 9.6, "lingering close"): so end our side
    /// first (the client reads the answer, then end of stream), and read and
    /// drop what it still sends until it stops, `linger` passes or
    /// [`LINGER_BYTES`] arrived.
    fn close_after_answer(stream: &TcpStream, linger: Duration) {
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let deadline = Instant::now() + linger;
        let (mut buf, mut taken) = ([0u8; 8192], 0);
        while taken < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match (&*stream).read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => taken += n,
            }
        }
    }

    /// Answers with an error and ends the connection (see [`close_after_answer`]).
    fn refuse(out: &mut TcpStream, code: u16, reason: &str, body: &str) -> io::Result<()> {
        respond_error(out, code, reason, body)?;
        close_after_answer(out, LINGER);
        Ok(())
    }

    fn parse_args(mut args: impl Iterator<Item = String>) -> Result<(u16, PathBuf, bool), String> {
        let (mut port, mut root, mut isolated) = (8080, PathBuf::from("."), true);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--port" => {
                    port = value()?.parse().map_err(|_| format!("{flag} takes a port number"))?
                }
                "--root" => root = PathBuf::from(value()?),
                "--not-isolated" => isolated = false,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok((port, root, isolated))
    }

    /// Serves requests on one connection until the client closes it.
    fn handle(stream: TcpStream, root: &Path, port: u16) -> io::Result<()> {
        stream.set_read_timeout(Some(IDLE))?;
        stream.set_write_timeout(Some(IDLE))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        // Lines longer than this end the connection (no unbounded buffers).
        let read_line =
            |reader: &mut BufReader<TcpStream>, line: &mut String| -> io::Result<usize> {
                let n = reader.by_ref().take(8192).read_line(line)?;
                if n == 8192 && !line.ends_with('\n') {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
                }
                Ok(n)
            };
        let allowed_hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        loop {
            // Idle between requests (keep-alive) up to IDLE; from the first byte on, the
            // whole head within HEAD_DEADLINE.
            reader.get_ref().set_read_timeout(Some(IDLE))?;
            if reader.fill_buf()?.is_empty() {
                return Ok(());
            }
            let deadline = Instant::now() + HEAD_DEADLINE;
            let read_line = |reader: &mut BufReader<TcpStream>, line: &mut String| {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow"));
                }
                reader.get_ref().set_read_timeout(Some(left))?;
                read_line(reader, line)
            };
            let mut request_line = String::new();
            if read_line(&mut reader, &mut request_line)? == 0 {
                return Ok(());
            }
            let (mut keep_alive, mut host_ok, mut range) = (true, false, None);
            for lines in 0.. {
                let mut line = String::new();
                if read_line(&mut reader, &mut line)? == 0 || line.trim_end().is_empty() {
                    break;
                }
                if lines == MAX_HEADER_LINES {
                    return refuse(
                        &mut out,
                        431,
                        "Request Header Fields Too Large",
                        &format!("more than {MAX_HEADER_LINES} header lines"),
                    );
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("connection:") && lower.contains("close") {
                    keep_alive = false;
                }
                // A Host check defeats DNS rebinding: another site's page cannot
                // read this server through a name that resolves to 127.0.0.1.
                if let Some(host) = lower.strip_prefix("host:") {
                    host_ok = allowed_hosts.iter().any(|h| h == host.trim());
                }
                if let Some(value) = lower.strip_prefix("range:") {
                    range = Some(value.trim().to_string());
                }
            }
            if !host_ok {
                return refuse(
                    &mut out,
                    403,
                    "Forbidden",
                    "Host must be 127.0.0.1 or localhost with this port",
                );
            }
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let head = method == "HEAD";
            if method != "GET" && !head {
                return refuse(&mut out, 405, "Method Not Allowed", "only GET and HEAD are served");
            }
            match resolve(root, target) {
                Ok(path) => respond_file(&mut out, &path, head, range.as_deref())?,
                Err((code, reason)) => {
                    return refuse(&mut out, code, reason, &format!("{reason}: {target}"));
                }
            }
            if !keep_alive {
                return Ok(());
            }
        }
    }

    /// Maps a request target to a file under `root` (`index.html` for
    /// directories). The check is on the request path: symlinks placed in the
    /// root by its owner are trusted.
    fn resolve(root: &Path, target: &str) -> Result<PathBuf, (u16, &'static str)> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let decoded = percent_decode(path).ok_or((400, "Bad Request"))?;
        let relative = decoded.trim_start_matches('/');
        // Only plain names: no `..`, no drive or UNC prefix (which would make
        // `join` drop the root on Windows), no dotfiles such as `.git/`.
        let plain = relative.split(['/', '\\']).all(|part| !part.starts_with('.'))
            && Path::new(relative).components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err((403, "Forbidden"));
        }
        let mut full = root.join(relative);
        if full.is_dir() {
            full = full.join("index.html");
        }
        if full.is_file() {
            Ok(full)
        } else {
            Err((404, "Not Found"))
        }
    }

    /// `%XX` escapes to bytes, then UTF-8; `None` on malformed input or a NUL.
    fn percent_decode(s: &str) -> Option<String> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok().filter(|s| !s.contains('\0'))
    }

    fn content_type(path: &Path) -> &'static str {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("html" | "htm") => "text/html; charset=utf-8",
            Some("js" | "mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("json") => "application/json",
            Some("wasm") => "application/wasm",
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("gif") => "image/gif",
            Some("webp") => "image/webp",
            Some("bmp") => "image/bmp",
            Some("svg") => "image/svg+xml",
            Some("txt" | "md") => "text/plain; charset=utf-8",
            _ => "application/octet-stream", // .safetensors, .npy, ...
        }
    }

    /// The headers that make a page cross-origin isolated (`crossOriginIsolated`).
    const ISOLATION: &str =
        "Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n";

    /// The file, or with `Range: bytes=a-b` (one range, as the model loader
    /// asks) that slice of it as a 206.
    fn respond_file(
        out: &mut TcpStream,
        path: &Path,
        head: bool,
        range: Option<&str>,
    ) -> io::Result<()> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(_) => return respond_error(out, 404, "Not Found", "cannot open the file"),
        };
        let len = file.metadata()?.len();
        let (status, start, count, content_range) = match range.map(|r| parse_range(r, len)) {
            None => ("200 OK", 0, len, String::new()),
            Some(Some((a, b))) => (
                "206 Partial Content",
                a,
                b - a + 1,
                format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
            ),
            Some(None) => {
                write!(out, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n")?;
                return out.flush();
            }
        };
        // `no-cache`: the page and the wasm change on every build; revalidating
        // is cheap on loopback. COOP + COEP make the page cross-origin isolated,
        // so the engine may share memory between workers (`www/wasm.js`: the
        // threaded build); the Hub answers with CORS, which COEP accepts.
        let isolation = if ISOLATED.load(Ordering::Relaxed) { ISOLATION } else { "" };
        write!(out, "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {count}\r\n{content_range}Accept-Ranges: bytes\r\nCache-Control: no-cache\r\n{isolation}\r\n", content_type(path))?;
        if !head {
            file.seek(SeekFrom::Start(start))?;
            io::copy(&mut file.take(count), out)?;
        }
        out.flush()
    }

    /// `bytes=a-b`, `bytes=a-` or `bytes=-n` of a `len`-byte file, as an inclusive
    /// range; `None` when it is malformed or outside the file.
    fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
        let (a, b) = value.strip_prefix("bytes=")?.split_once('-')?;
        let (start, end) = match (a.trim(), b.trim()) {
            ("", n) => (len.checked_sub(n.parse().ok()?)?, len.checked_sub(1)?),
            (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
            (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len.checked_sub(1)?)),
        };
        (start <= end && end < len).then_some((start, end))
    }

    fn respond_error(out: &mut TcpStream, code: u16, reason: &str, body: &str) -> io::Result<()> {
        let body = format!("{body}\n");
        // One write, not one per piece of the format: small writes after the
        // first wait for its acknowledgement (Nagle), and a reset discards them.
        let answer = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        out.write_all(answer.as_bytes())?;
        out.flush()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn ranges() {
            assert_eq!(parse_range("bytes=0-7", 100), Some((0, 7)));
            assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
            assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
            assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
            assert_eq!(parse_range("bytes=100-", 100), None);
            assert_eq!(parse_range("bytes=7-3", 100), None);
            assert_eq!(parse_range("items=0-1", 100), None);
        }

        #[test]
        fn paths_stay_under_the_root() {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            assert!(resolve(root, "/Cargo.toml").unwrap().ends_with("Cargo.toml"));
            // The fixture's tokenizer.json is a symlink inside the root: served.
            assert!(resolve(root, "/tests/fixtures/tiny-clip/tokenizer.json?x=1").is_ok());
            assert_eq!(resolve(root, "/../etc/passwd"), Err((403, "Forbidden")));
            assert_eq!(resolve(root, "/src/%2e%2e/%2E%2E/etc/passwd"), Err((403, "Forbidden")));
            assert_eq!(resolve(root, "//etc/passwd"), Err((404, "Not Found")));
            assert_eq!(resolve(root, "/.git/config"), Err((403, "Forbidden")));
            assert_eq!(resolve(root, "/C:/x"), Err((404, "Not Found"))); // a plain name off Windows
            assert_eq!(resolve(root, "/%5C%5Chost%5Cshare%5Cf"), Err((404, "Not Found")));
            assert_eq!(resolve(root, "/no/such/file"), Err((404, "Not Found")));
            assert_eq!(resolve(root, "/bad%zz"), Err((400, "Bad Request")));
        }

        #[test]
        fn types() {
            assert_eq!(content_type(Path::new("a/webclip_bg.wasm")), "application/wasm");
            assert_eq!(content_type(Path::new("worker.mjs")), "text/javascript; charset=utf-8");
            assert_eq!(content_type(Path::new("model.safetensors")), "application/octet-stream");
        }
    }
}
