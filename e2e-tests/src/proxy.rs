//! A fault-injecting HTTP proxy on loopback, in front of the real registry: a far registry
//! (latency on every request), a failing one (an error status), one that hangs, and one
//! that resets connections. Requests it forwards reach the real registry unchanged but for
//! `Connection: close` (one request per connection, so every request is seen and delayed).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::http::is_loopback_registry;

/// What the proxy does to each request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward it.
    #[default]
    None,
    /// Wait this long, then forward it (a registry this far away, one way and back).
    Latency(Duration),
    /// Answer this HTTP status without forwarding.
    Status(u16),
    /// Read the request and never answer (until the proxy is dropped or the fault changes).
    Hang,
    /// Read the request, then reset the connection (TCP RST).
    Reset,
    /// Forward it, and take `Docker-Content-Digest` out of the answer (a registry that leaves
    /// the header out).
    NoDigestHeader,
    /// Answer the version check, `GET /v2/`, with this HTTP status; forward every other request.
    VersionCheckStatus(u16),
}

#[derive(Debug, Default)]
struct Shared {
    fault: Mutex<Fault>,
    requests: Mutex<Vec<String>>,
    stopped: AtomicBool,
    open: AtomicUsize,
}

/// A running proxy; dropping it stops accepting and releases hung connections.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// How often a hung connection checks whether it may go.
const HANG_POLL: Duration = Duration::from_millis(20);

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Result<FaultProxy> {
        if !is_loopback_registry(upstream) {
            return Err(Error::invalid(
                "proxy upstream",
                format!("{upstream:?} is not a loopback address"),
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("127.0.0.1:0", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("127.0.0.1:0", e))?;
        let shared = Arc::new(Shared::default());
        let upstream = upstream.to_string();
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accept_shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = accept_shared.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    shared.open.fetch_add(1, Ordering::SeqCst);
                    let _ = serve(conn, &upstream, &shared);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(FaultProxy { addr, shared })
    }

    /// `127.0.0.1:PORT`: use it as the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Sets what happens to the next requests.
    pub fn set_fault(&self, fault: Fault) {
        if let Ok(mut f) = self.shared.fault.lock() {
            *f = fault;
        }
    }

    /// Request lines seen so far (`HEAD /v2/app/manifests/1.0`), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Forgets the requests seen so far.
    pub fn clear_requests(&self) {
        if let Ok(mut r) = self.shared.requests.lock() {
            r.clear();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn fault(shared: &Shared) -> Fault {
    shared.fault.lock().map(|f| f.clone()).unwrap_or_default()
}

/// Reads the request head (up to the blank line) and whatever body bytes came with it.
fn read_head(conn: &mut TcpStream) -> std::io::Result<(Vec<u8>, usize)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok((buf, end + 4));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The head with `Connection: close` in place of any `Connection` header.
fn closing_head(head: &str) -> String {
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn serve(mut conn: TcpStream, upstream: &str, shared: &Shared) -> std::io::Result<()> {
    let (buf, head_end) = read_head(&mut conn)?;
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let line = head.lines().next().unwrap_or_default();
    let request_line = line.rsplit_once(' ').map_or(line, |(l, _)| l).to_string();
    let version_check = request_line == "GET /v2/";
    if let Ok(mut r) = shared.requests.lock() {
        r.push(request_line);
    }
    let fault_now = fault(shared);
    match fault_now {
        Fault::None | Fault::NoDigestHeader => {}
        Fault::VersionCheckStatus(_) if !version_check => {}
        Fault::Status(code) | Fault::VersionCheckStatus(code) => {
            let answer = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            conn.write_all(answer.as_bytes())?;
            return conn.shutdown(Shutdown::Both);
        }
        Fault::Latency(d) => std::thread::sleep(d),
        Fault::Hang => {
            while fault(shared) == Fault::Hang && !shared.stopped.load(Ordering::SeqCst) {
                std::thread::sleep(HANG_POLL);
            }
            return conn.shutdown(Shutdown::Both);
        }
        Fault::Reset => {
            // Linger 0 makes close send RST instead of FIN.
            socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO))?;
            drop(conn);
            return Ok(());
        }
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(closing_head(&head).as_bytes())?;
    up.write_all(&buf[head_end..])?;
    // Any rest of the body, then the answer back, until either side closes.
    let mut client_read = conn.try_clone()?;
    let mut up_write = up.try_clone()?;
    let body = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut up_write);
    });
    if fault_now == Fault::NoDigestHeader {
        // The upstream closes after its answer (Connection: close): read it all, edit the head.
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        conn.write_all(&without_digest_header(&answer))?;
    } else {
        std::io::copy(&mut up, &mut conn)?;
    }
    let _ = conn.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
    let _ = body.join();
    Ok(())
}

/// An HTTP answer without its `Docker-Content-Digest` header lines.
fn without_digest_header(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|line| {
            !line
                .split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("docker-content-digest"))
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(&answer[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_header_is_taken_out() {
        let answer =
            b"HTTP/1.1 200 OK\r\ndocker-content-digest: sha256:ab\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(
            without_digest_header(answer),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec()
        );
    }

    #[test]
    fn connection_header_is_replaced() {
        let head = "GET /v2/ HTTP/1.1\r\nHost: x\r\nconnection: keep-alive\r\n\r\n";
        assert_eq!(
            closing_head(head),
            "GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn only_loopback_upstreams() {
        assert!(FaultProxy::start("10.0.0.1:5000").is_err());
    }
}
