//! A small closed-loop HTTP/1.1 load generator for the benchmark (`bench/run.sh`).
//!
//! Each of `--concurrency` workers owns one keep-alive connection and sends the same POST
//! back to back for `--duration` seconds. It reports throughput and latency percentiles, and
//! for streams (`--stream`) the time to the first body byte and the gaps between body
//! chunks, which is how the benchmark checks that a proxy does not batch or delay events.
//! Output: one JSON object on stdout.
//!
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8787/v1/chat/completions \
//!     --body '{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}]}' -c 32 -d 10

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

struct Args {
    url: String,
    body: Bytes,
    concurrency: usize,
    duration: Duration,
    headers: Vec<(String, String)>,
    max_requests: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let mut url = None;
    let mut body = None;
    let mut concurrency = 1;
    let mut duration = Duration::from_secs(10);
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let mut max_requests = None;
    while let Some(k) = a.next() {
        let mut v = || a.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--url" => url = Some(v()?),
            "--body" => body = Some(Bytes::from(v()?)),
            "--body-file" => {
                let p = v()?;
                body = Some(Bytes::from(
                    std::fs::read(&p).map_err(|e| format!("{p}: {e}"))?,
                ))
            }
            "-c" | "--concurrency" => concurrency = v()?.parse().map_err(|e| format!("{e}"))?,
            "-d" | "--duration" => {
                duration = Duration::from_secs_f64(v()?.parse().map_err(|e| format!("{e}"))?)
            }
            "-n" | "--requests" => max_requests = Some(v()?.parse().map_err(|e| format!("{e}"))?),
            "-H" | "--header" => {
                let h = v()?;
                let (k, val) = h.split_once(':').ok_or("header must be name:value")?;
                headers.push((k.trim().to_string(), val.trim().to_string()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        url: url.ok_or("--url is required")?,
        body: body.ok_or("--body or --body-file is required")?,
        concurrency: concurrency.max(1),
        duration,
        headers,
        max_requests,
    })
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    ttfb_us: Vec<u32>,
    gaps_us: Vec<u32>,
    errors: u64,
    bytes: u64,
}

async fn worker(
    url: hyper::Uri,
    args: std::sync::Arc<Args>,
    deadline: Instant,
    budget: std::sync::Arc<std::sync::atomic::AtomicI64>,
) -> Stats {
    let mut st = Stats::default();
    let host = url.authority().map(|a| a.to_string()).unwrap_or_default();
    let path = url
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or("/".into());
    'conn: while Instant::now() < deadline {
        let Ok(tcp) = tokio::net::TcpStream::connect(&host).await else {
            st.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
        else {
            st.errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            if budget.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) <= 0 {
                break 'conn;
            }
            let mut rb = Request::post(&path).header("host", &host);
            for (k, v) in &args.headers {
                rb = rb.header(k, v);
            }
            let Ok(req) = rb.body(Full::new(args.body.clone())) else {
                st.errors += 1;
                continue;
            };
            let start = Instant::now();
            if sender.ready().await.is_err() {
                st.errors += 1;
                continue 'conn;
            }
            let resp = match sender.send_request(req).await {
                Ok(r) => r,
                Err(_) => {
                    st.errors += 1;
                    continue 'conn;
                }
            };
            let ok = resp.status().is_success();
            let mut body = resp.into_body();
            let mut first = true;
            let mut last = start;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            let now = Instant::now();
                            if first {
                                st.ttfb_us
                                    .push(now.duration_since(start).as_micros() as u32);
                                first = false;
                            } else {
                                st.gaps_us.push(now.duration_since(last).as_micros() as u32);
                            }
                            last = now;
                            st.bytes += d.len() as u64;
                        }
                    }
                    Err(_) => {
                        st.errors += 1;
                        continue 'conn;
                    }
                }
            }
            if ok {
                st.latencies_us.push(start.elapsed().as_micros() as u32);
            } else {
                st.errors += 1;
            }
        }
    }
    st
}

fn pct(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1000.0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url: hyper::Uri = args.url.parse().expect("url");
    let started = Instant::now();
    let deadline = started + args.duration;
    let budget = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
        args.max_requests.map_or(i64::MAX, |n| n as i64),
    ));
    let all = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency {
            tasks.push(tokio::spawn(worker(
                url.clone(),
                args.clone(),
                deadline,
                budget.clone(),
            )));
        }
        let mut all = Stats::default();
        for t in tasks {
            if let Ok(s) = t.await {
                all.latencies_us.extend(s.latencies_us);
                all.ttfb_us.extend(s.ttfb_us);
                all.gaps_us.extend(s.gaps_us);
                all.errors += s.errors;
                all.bytes += s.bytes;
            }
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut s = all;
    s.latencies_us.sort_unstable();
    s.ttfb_us.sort_unstable();
    s.gaps_us.sort_unstable();
    let n = s.latencies_us.len();
    let out = json!({
        "requests": n,
        "errors": s.errors,
        "seconds": elapsed,
        "rps": n as f64 / elapsed,
        "p50_ms": pct(&mut s.latencies_us, 0.50),
        "p90_ms": pct(&mut s.latencies_us, 0.90),
        "p99_ms": pct(&mut s.latencies_us, 0.99),
        "max_ms": pct(&mut s.latencies_us, 1.0),
        "ttfb_p50_ms": pct(&mut s.ttfb_us, 0.50),
        "ttfb_p99_ms": pct(&mut s.ttfb_us, 0.99),
        "gap_p50_ms": pct(&mut s.gaps_us, 0.50),
        "gap_p99_ms": pct(&mut s.gaps_us, 0.99),
        "bytes": s.bytes,
    });
    println!("{out}");
}
