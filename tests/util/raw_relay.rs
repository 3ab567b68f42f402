//! A test-only relay on raw TCP, for wire shapes the hyper-based simulated relay cannot
//! produce: an HTTP/1.0 answer whose body ends when the connection closes. Each connection
//! gets one answer: `GET …/models` the simulated relay's model list, any other request the
//! scripted head and body pieces (written one by one), then the connection is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct RawRelay {
    pub addr: std::net::SocketAddr,
    chats: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawRelay {
    /// Answers chat calls with `head` (a status line and headers, without the blank line)
    /// followed by `pieces`, then closes.
    pub async fn start(head: &str, pieces: Vec<Vec<u8>>) -> RawRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let chats = Arc::new(AtomicUsize::new(0));
        let head = format!("{head}\r\n\r\n");
        let pieces = Arc::new(pieces);
        let counter = chats.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (head, pieces, counter) = (head.clone(), pieces.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ = answer(sock, &head, &pieces, &counter).await;
                });
            }
        });
        RawRelay { addr, chats, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Chat calls received so far.
    pub fn chats(&self) -> usize {
        self.chats.load(Ordering::SeqCst)
    }
}

impl Drop for RawRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    mut sock: TcpStream,
    head: &str,
    pieces: &[Vec<u8>],
    chats: &AtomicUsize,
) -> std::io::Result<()> {
    // Read the request head, then as much body as it announces.
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let req = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = req
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    if req.starts_with("GET ") && req.contains("/models") {
        let body = serde_json::json!({"object": "list", "data": llm_router::sim::default_models()})
            .to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await?;
        return sock.shutdown().await;
    }
    chats.fetch_add(1, Ordering::SeqCst);
    sock.write_all(head.as_bytes()).await?;
    for p in pieces {
        sock.write_all(p).await?;
        sock.flush().await?;
    }
    sock.shutdown().await
}
