//! `webclip-serve` under a flood: connections that never send a byte, and
//! hundreds of requests at once. It stays within its bound of threads
//! (`/proc/<pid>/status`), answers what it cannot take with a 503, never
//! crashes, and serves normally once the flood is gone.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `MAX_CONNECTIONS` in src/bin/webclip-serve.rs.
const MAX_CONNECTIONS: usize = 64;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_webclip-serve"))
        .args(["--port", "0", "--root", env!("CARGO_MANIFEST_DIR")])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
    Server { child, port }
}

/// The whole response to `GET path`, or None when the connection failed.
fn response(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    Some(String::from_utf8_lossy(&response).into_owned())
}

/// The status code of `GET path`, or None when the connection failed.
fn get(port: u16, path: &str) -> Option<u16> {
    response(port, path)?.split_whitespace().nth(1)?.parse().ok()
}

/// The response head of `GET path`.
fn head(port: u16, path: &str) -> String {
    let text = response(port, path).expect("a response");
    text.split("\r\n\r\n").next().unwrap_or_default().to_string()
}

#[test]
fn pages_are_cross_origin_isolated_unless_asked_not_to_be() {
    // COOP + COEP: what lets www/wasm.js run the threaded build (shared wasm memory).
    let isolation =
        ["Cross-Origin-Opener-Policy: same-origin", "Cross-Origin-Embedder-Policy: require-corp"];
    let server = start();
    let page = head(server.port, "/index.html");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(isolation.iter().all(|h| page.lines().any(|l| l == *h)), "{page}");
    let plain = start_with(&["--not-isolated"]);
    let page = head(plain.port, "/index.html");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(!page.contains("Cross-Origin-"), "{page}");
}

fn threads(server: &Server) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
}

#[test]
fn a_flood_of_connections_is_bounded_and_survived() {
    let mut server = start();
    assert_eq!(get(server.port, "/README.md"), Some(200));
    // 300 connections that say nothing: only MAX_CONNECTIONS get a thread.
    let idle: Vec<TcpStream> =
        (0..300).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = threads(&server);
    assert!(during <= MAX_CONNECTIONS + 2, "{during} threads for 300 idle connections");
    // A request now is refused at once, not queued behind the silent ones.
    assert_eq!(get(server.port, "/README.md"), Some(503));
    drop(idle);
    std::thread::sleep(Duration::from_millis(500));
    // Hundreds of requests at once: each answered (200 or, over the bound, 503).
    let answers: Vec<Option<u16>> = std::thread::scope(|s| {
        let port = server.port;
        let handles: Vec<_> = (0..400).map(|_| s.spawn(move || get(port, "/README.md"))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|a| **a == Some(200)).count();
    let busy = answers.iter().filter(|a| **a == Some(503)).count();
    assert_eq!(ok + busy, 400, "every request answered with 200 or 503: {answers:?}");
    assert!(ok > 0);
    assert!(server.child.try_wait().unwrap().is_none(), "the server is still running");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(server.port, "/README.md"), Some(200));
    assert!(threads(&server) <= 3, "threads end with their connections");
    println!(
        "idle flood: {during} threads; 400 requests at once: {ok} served, {busy} told to retry"
    );
}

#[test]
fn endless_headers_end_the_request() {
    let server = start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET /README.md HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", server.port).unwrap();
    for i in 0..200 {
        // The server may close after 100 lines: later writes can fail.
        if write!(stream, "X-Filler-{i}: {}\r\n", "x".repeat(100)).is_err() {
            break;
        }
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
}
