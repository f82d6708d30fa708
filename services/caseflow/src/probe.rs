//! A plain HTTP/1.1 GET of a health endpoint, with nothing but tokio: the system's restart waits
//! on it, and `caseflow probe` is the container image's health check (the slim image has no curl).

use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The status code `GET path` answers at `addr` (host:port), within `timeout`.
pub async fn status(addr: &str, path: &str, timeout: Duration) -> anyhow::Result<u16> {
    tokio::time::timeout(timeout, get_status(addr, path))
        .await
        .with_context(|| format!("{addr}{path}: no answer within {timeout:?}"))?
}

async fn get_status(addr: &str, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(addr).await.with_context(|| format!("{addr}: cannot connect"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "{addr}{path}: the connection closed before a status line");
        head.extend_from_slice(&buf[..n]);
        anyhow::ensure!(head.len() <= 1024, "{addr}{path}: the status line is too long");
    }
    parse_status(&head).with_context(|| format!("{addr}{path}: not an HTTP answer"))
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

/// `host:port` of an `http://host:port[/...]` URL or a bare `host:port`.
pub fn authority(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_gives_its_code_and_anything_else_none() {
        assert_eq!(parse_status(b"HTTP/1.1 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(parse_status(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n"), Some(200));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 abc\r\n"), None);
    }

    #[test]
    fn the_authority_is_host_and_port() {
        assert_eq!(authority("http://127.0.0.1:8081/health/readyz"), "127.0.0.1:8081");
        assert_eq!(authority("routing:8082"), "routing:8082");
    }
}
