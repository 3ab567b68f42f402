//! The lean HTTP/1.1 client for chat calls: one relay origin, a pool of keep-alive
//! connections speaking [`super::h1`], TLS by rustls with the platform verifier.
//!
//! Why not reqwest here: every request through reqwest paid for URL handling, a tower
//! stack, hyper-util's general pool and its large per-connection futures, which profiles
//! showed as ~10% of the gateway's CPU per request and a third of its memory at c=256
//! (docs/performance.md). A gateway talks to one origin, so its pool is a `Vec`.
//!
//! Invariants: a connection goes back to the pool only after its response body was read to
//! the end (so it is idle); a body dropped early drops the connection (the relay sees the
//! close and stops generating); an idle connection is checked for a close by the relay
//! before it is used, and a request that could not be written to a reused connection goes
//! to a fresh one (a request that was written is never sent twice); no lock is held across
//! an await.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderValue};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use super::BodyError;
use super::h1::{self, Conn, Head};

/// Why a pooled request failed, as text already fit for an error message (no key inside:
/// the key only ever travels in a request header, which errors do not print).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Connect(String),
    #[error("the connection to the relay timed out")]
    ConnectTimeout,
    #[error("{0}")]
    Http(String),
}

/// Where the relay is, parsed once from its base URL.
#[derive(Debug, Clone)]
pub struct Origin {
    pub https: bool,
    /// Host name or IP literal (IPv6 without brackets), for DNS and TLS.
    pub host: String,
    pub port: u16,
    /// `Host` header value: `host[:port]`, port only when not the scheme's default.
    pub authority: HeaderValue,
}

impl Origin {
    pub fn parse(url: &reqwest::Url) -> Result<Origin, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(format!("unsupported scheme `{s}` (use http or https)")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err("the URL has no host".into()),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "the URL has no port".to_string())?;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or(&host)),
            None => url.host_str().unwrap_or(&host).to_string(),
        };
        let authority =
            HeaderValue::from_str(&authority).map_err(|_| format!("invalid host `{authority}`"))?;
        Ok(Origin {
            https,
            host,
            port,
            authority,
        })
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

struct Inner {
    origin: Origin,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    idle: Mutex<Vec<Idle>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
}

/// A pool of connections to one relay origin. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.inner.origin)
            .finish()
    }
}

/// The rustls client configuration: the platform's trust store and verifier (as reqwest
/// uses), the aws-lc-rs provider, HTTP/1.1 by ALPN.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("cannot load the system's certificates: {e}"))?
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

impl Pool {
    pub fn new(
        origin: Origin,
        connect_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Pool, String> {
        let tls = if origin.https {
            let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                .map_err(|_| format!("invalid TLS server name `{}`", origin.host))?;
            Some((TlsConnector::from(Arc::new(tls_config()?)), name))
        } else {
            None
        };
        Ok(Pool {
            inner: Arc::new(Inner {
                origin,
                tls,
                idle: Mutex::new(Vec::new()),
                connect_timeout,
                idle_timeout,
                max_idle: 1024,
            }),
        })
    }

    /// Idle connections kept right now.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// POST `body` to `path` (origin form) with `headers` (`host` and `content-length` are
    /// added here). Resolves with the response head; the body returns the connection to
    /// the pool when read to its end.
    pub async fn post(
        &self,
        path: &str,
        mut headers: HeaderMap,
        body: &Bytes,
    ) -> Result<(Head, RelayBody), PoolError> {
        headers.insert(http::header::HOST, self.inner.origin.authority.clone());
        let head = h1::request_head("POST", path, &headers, body.len());
        // A reused connection that fails while the request is written has not delivered it:
        // the next idle one, or a new connection, gets it.
        let conn = loop {
            match self.checkout() {
                Some(mut c) => {
                    if c.write_request(&head, body).await.is_ok() {
                        break c;
                    }
                }
                None => {
                    // Boxed: connecting (DNS, TCP, a TLS handshake) is rare once the pool
                    // is warm, and inline its future would make every request's larger.
                    let mut c = Box::pin(self.connect()).await?;
                    c.write_request(&head, body)
                        .await
                        .map_err(|e| PoolError::Http(format!("sending the request failed: {e}")))?;
                    break c;
                }
            }
        };
        let (head, body) = conn.read_response().await.map_err(PoolError::Http)?;
        Ok((
            head,
            RelayBody {
                body,
                pool: self.inner.clone(),
            },
        ))
    }

    /// The most recently used live connection (LIFO keeps few connections warm and lets
    /// the rest expire).
    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.inner.idle.lock().ok()?;
        let now = Instant::now();
        while let Some(mut c) = idle.pop() {
            if now.duration_since(c.since) < self.inner.idle_timeout && c.conn.is_alive() {
                return Some(c.conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Conn, PoolError> {
        let inner = &self.inner;
        let fut = async {
            let o = &inner.origin;
            let tcp = TcpStream::connect((o.host.as_str(), o.port))
                .await
                .map_err(|e| {
                    PoolError::Connect(format!("cannot connect to {}:{}: {e}", o.host, o.port))
                })?;
            let _ = tcp.set_nodelay(true);
            let io = match &inner.tls {
                None => Either::Left(tcp),
                Some((connector, name)) => {
                    let tls = connector.connect(name.clone(), tcp).await.map_err(|e| {
                        PoolError::Connect(format!("TLS handshake with {} failed: {e}", o.host))
                    })?;
                    Either::Right(Box::new(tls))
                }
            };
            Ok::<_, PoolError>(Conn::new(io))
        };
        tokio::time::timeout(inner.connect_timeout, fut)
            .await
            .map_err(|_| PoolError::ConnectTimeout)?
    }
}

impl Inner {
    fn release(&self, conn: Conn) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let now = Instant::now();
        let timeout = self.idle_timeout;
        let expired = |c: &Idle| now.duration_since(c.since) >= timeout;
        // Reuse is LIFO, so expired connections collect at the front; sweep them when the
        // oldest one has expired (rare, and linear only then).
        if idle.first().is_some_and(expired) {
            idle.retain(|c| !expired(c));
        }
        if idle.len() < self.max_idle {
            idle.push(Idle { conn, since: now });
        }
    }
}

/// A response body from the pool, read in the reader's task. Read to its end, it puts its
/// connection back; dropped before that, it closes the connection.
pub struct RelayBody {
    body: h1::Body,
    pool: Arc<Inner>,
}

impl std::fmt::Debug for RelayBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayBody")
            .field("body", &self.body)
            .finish()
    }
}

impl Stream for RelayBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.body.poll_chunk(cx);
        if let Some(conn) = this.body.take_reusable() {
            this.pool.release(conn);
        }
        next.map(|o| o.map(|r| r.map_err(BodyError)))
    }
}

/// Whether the environment names a proxy for this scheme. Chat calls then go through
/// reqwest, which implements proxies (and `NO_PROXY`); the pool only connects directly.
pub fn proxy_in_env(https: bool) -> bool {
    let names: &[&str] = if https {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
}

/// The request target for a URL on the origin, in origin form (`/path?query`).
pub fn origin_form(url: &reqwest::Url) -> String {
    let mut s = url.path().to_string();
    if let Some(q) = url.query() {
        s.push('?');
        s.push_str(q);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let o = Origin::parse(&"http://127.0.0.1:8080/v1".parse().unwrap()).unwrap();
        assert!(!o.https);
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 8080));
        assert_eq!(o.authority, "127.0.0.1:8080");
        let o = Origin::parse(&"https://relay.example.com/api/v1".parse().unwrap()).unwrap();
        assert!(o.https);
        assert_eq!((o.host.as_str(), o.port), ("relay.example.com", 443));
        assert_eq!(o.authority, "relay.example.com");
        let o = Origin::parse(&"http://[::1]:9000/v1".parse().unwrap()).unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 9000));
        assert_eq!(o.authority, "[::1]:9000");
        assert!(Origin::parse(&"ftp://x/v1".parse().unwrap()).is_err());
    }

    #[test]
    fn origin_form_keeps_prefix_and_query() {
        let u: reqwest::Url = "https://r.example/api/v1/chat/completions?api-version=2"
            .parse()
            .unwrap();
        assert_eq!(origin_form(&u), "/api/v1/chat/completions?api-version=2");
    }

    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A bare HTTP/1.1 server: counts connections, records request heads, answers `ok`
    /// with keep-alive, and with `close_after_one` closes each connection after one answer
    /// (without saying so, as a relay whose keep-alive timer fired would).
    struct Bare {
        port: u16,
        accepted: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
    }

    async fn bare(close_after_one: bool) -> Bare {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (a, h) = (accepted.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match s.read(&mut tmp).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        while buf.len() < end + 4 + len {
                            match s.read(&mut tmp).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                            }
                        }
                        buf.drain(..end + 4 + len);
                        h.lock().unwrap().push(head);
                        // A 6 KiB header, as relays behind CDNs send: the head must fit.
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nx-filler: {}\r\ncontent-length: 2\r\n\r\nok",
                            "f".repeat(6000)
                        );
                        let _ = s.write_all(head.as_bytes()).await;
                        if close_after_one {
                            return;
                        }
                    }
                });
            }
        });
        Bare {
            port,
            accepted,
            heads,
        }
    }

    fn pool_to(port: u16) -> Pool {
        let url: reqwest::Url = format!("http://127.0.0.1:{port}/v1/chat/completions")
            .parse()
            .unwrap();
        Pool::new(
            Origin::parse(&url).unwrap(),
            Duration::from_secs(2),
            Duration::from_secs(90),
        )
        .unwrap()
    }

    async fn send(pool: &Pool) -> Result<(Head, RelayBody), PoolError> {
        pool.post(
            "/v1/chat/completions",
            HeaderMap::new(),
            &Bytes::from_static(b"{}"),
        )
        .await
    }

    async fn read_all(mut body: RelayBody) -> Bytes {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        Bytes::from(out)
    }

    #[tokio::test]
    async fn reuses_one_connection_for_sequential_requests() {
        let srv = bare(false).await;
        let pool = pool_to(srv.port);
        for _ in 0..3 {
            let (head, body) = send(&pool).await.unwrap();
            assert_eq!(head.headers["x-filler"].len(), 6000);
            assert_eq!(read_all(body).await, "ok");
        }
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
        let heads = srv.heads.lock().unwrap().clone();
        assert!(heads[0].starts_with("POST /v1/chat/completions HTTP/1.1"));
        assert!(
            heads[0]
                .to_ascii_lowercase()
                .contains(&format!("host: 127.0.0.1:{}", srv.port)),
            "{}",
            heads[0]
        );
    }

    #[tokio::test]
    async fn a_body_dropped_early_does_not_return_its_connection() {
        let srv = bare(false).await;
        let pool = pool_to(srv.port);
        let (_, body) = send(&pool).await.unwrap();
        drop(body);
        assert_eq!(pool.idle_count(), 0);
        let (_, body) = send(&pool).await.unwrap();
        assert_eq!(read_all(body).await, "ok");
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_relay_closed_is_replaced() {
        let srv = bare(true).await;
        let pool = pool_to(srv.port);
        for _ in 0..3 {
            let (_, body) = send(&pool).await.unwrap();
            assert_eq!(read_all(body).await, "ok");
            // Let the relay's close arrive.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 3);
    }

    /// A server that answers each request on a connection with `answer`, then closes the
    /// connection when `close` is set.
    async fn canned(answer: &'static [u8], close: bool) -> (u16, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut tmp = [0u8; 4096];
                    // Requests here are small: one read holds a whole one.
                    while let Ok(n) = s.read(&mut tmp).await {
                        if n == 0 || s.write_all(answer).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn chunks_that_arrived_together_come_out_as_one_piece() {
        let (port, accepted) = canned(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n3\r\na\n\n\r\n0\r\n\r\n",
            false,
        )
        .await;
        let pool = pool_to(port);
        let (_, mut body) = send(&pool).await.unwrap();
        use futures_util::StreamExt;
        assert_eq!(body.next().await.unwrap().unwrap(), "data: a\n\n");
        assert!(body.next().await.is_none());
        assert_eq!(pool.idle_count(), 1);
        let (_, body) = send(&pool).await.unwrap();
        assert_eq!(read_all(body).await, "data: a\n\n");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn connection_close_is_honoured() {
        let (port, accepted) = canned(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            true,
        )
        .await;
        let pool = pool_to(port);
        for _ in 0..2 {
            let (_, body) = send(&pool).await.unwrap();
            assert_eq!(read_all(body).await, "ok");
            assert_eq!(pool.idle_count(), 0);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error() {
        let (port, _) = canned(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", true).await;
        let (_, mut body) = send(&pool_to(port)).await.unwrap();
        use futures_util::StreamExt;
        assert_eq!(body.next().await.unwrap().unwrap(), "short");
        let err = body.next().await.unwrap().unwrap_err();
        assert!(
            err.to_string().contains("before the answer was complete"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn connect_errors_name_the_address() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = send(&pool_to(port)).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tls_to_a_plain_server_fails_the_handshake() {
        // A plain HTTP server answers the ClientHello with text.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let url: reqwest::Url = format!("https://127.0.0.1:{port}/v1").parse().unwrap();
        let pool = Pool::new(
            Origin::parse(&url).unwrap(),
            Duration::from_secs(2),
            Duration::from_secs(90),
        )
        .unwrap();
        let err = send(&pool).await.unwrap_err();
        assert!(err.to_string().contains("TLS handshake"), "{err}");
    }

    #[test]
    fn tls_config_builds() {
        // The platform verifier must load on this system (the same one reqwest uses).
        tls_config().unwrap();
    }
}
