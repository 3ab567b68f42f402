//! Unit tests of the usage store against real SQLite files in temporary directories.

use std::path::Path;
use std::time::{Duration, Instant};

use super::writer::test_support;
use super::*;

const DAY: i64 = 86_400_000;
const STOP: Duration = Duration::from_secs(10);

/// Record `i` of a deterministic mix: three targets, two modes plus pass-through, every
/// tenth an error, every seventh decided by the fallback policy, every fifth unpriced.
fn rec(i: u64, at: i64) -> UsageRecord {
    let target = ["model-a", "model-b", "model-c"][(i % 3) as usize];
    let (mode, decision) = match i % 4 {
        0 => (None, DECISION_PASSTHROUGH),
        1 | 2 => (Some("auto"), DECISION_ROUTER),
        _ => (Some("auto-coding"), DECISION_ROUTER),
    };
    let decision = if i.is_multiple_of(7) && mode.is_some() {
        DECISION_FALLBACK
    } else {
        decision
    };
    let routed = mode.is_some();
    let priced = !i.is_multiple_of(5);
    UsageRecord {
        at_unix_ms: at,
        request_id: format!("req-{i}"),
        model: mode.unwrap_or(target).to_string(),
        mode: mode.map(str::to_string),
        target: target.to_string(),
        decision: decision.to_string(),
        effort: routed.then(|| "low".to_string()),
        reason: routed.then(|| "short question".to_string()),
        attempts: 1 + (i % 2) as u32,
        status: if i.is_multiple_of(10) { 502 } else { 200 },
        stream: i.is_multiple_of(2),
        router_ms: 10,
        answer_ms: 100,
        total_ms: 110,
        prompt_tokens: Some(100 + i),
        completion_tokens: Some(10),
        cost_usd: priced.then_some(0.001),
        router_model: routed.then(|| "router-mini".to_string()),
        router_prompt_tokens: routed.then_some(50),
        router_completion_tokens: routed.then_some(5),
        router_cost_usd: routed.then_some(0.0001),
        strongest_model: Some("model-strong".to_string()),
        strongest_cost_usd: Some(0.01),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn write_all(path: &Path, records: impl IntoIterator<Item = UsageRecord>) {
    let (sink, handle) = start(path, 0).expect("start");
    for r in records {
        sink.record(r);
    }
    handle.flush_and_stop(STOP);
    assert_eq!(sink.dropped(), 0);
}

#[test]
fn thousand_records_sum_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/usage.sqlite3");
    let now = now_unix_ms();
    let records: Vec<UsageRecord> = (0..1000).map(|i| rec(i, now - 1000 + i as i64)).collect();
    write_all(&path, records.clone());

    let r = UsageReader::open(&path).unwrap();
    let t = r.totals(0).unwrap();
    assert_eq!(t.requests, 1000);
    assert_eq!(
        t.errors,
        records.iter().filter(|r| r.status >= 400).count() as u64
    );
    assert_eq!(
        t.fallbacks,
        records
            .iter()
            .filter(|r| r.decision == DECISION_FALLBACK)
            .count() as u64
    );
    assert_eq!(
        t.prompt_tokens,
        records
            .iter()
            .map(|r| r.prompt_tokens.unwrap())
            .sum::<u64>()
    );
    assert_eq!(t.completion_tokens, 10_000);
    let priced = records.iter().filter(|r| r.cost_usd.is_some()).count();
    let routed = records.iter().filter(|r| r.router_model.is_some()).count();
    assert_eq!(t.unpriced, 1000 - priced as u64);
    assert!(close(t.spend_usd, priced as f64 * 0.001), "{t:?}");
    assert!(close(t.router_spend_usd, routed as f64 * 0.0001), "{t:?}");
    assert!(close(t.strongest_spend_usd, 10.0), "{t:?}");
    let saved: f64 = records
        .iter()
        .filter(|r| r.cost_usd.is_some())
        .map(|r| 0.01 - 0.001 - r.router_cost_usd.unwrap_or(0.0))
        .sum();
    assert!(close(t.saved_usd, saved), "{} vs {saved}", t.saved_usd);
    assert_eq!(t.router_prompt_tokens, routed as u64 * 50);

    // Since: only the newest 100.
    assert_eq!(r.totals(now - 100).unwrap().requests, 100);
    assert_eq!(r.totals(now + 1).unwrap(), Totals::default());

    // By model: three groups that add up to the totals.
    let rows = r.breakdown(0, GroupBy::Model).unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["model-a", "model-b", "model-c"]);
    assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 1000);
    assert_eq!(rows[0].requests, 334);
    assert_eq!(rows.iter().map(|r| r.errors).sum::<u64>(), t.errors);
    assert!(close(rows.iter().map(|r| r.spend_usd).sum(), t.spend_usd));
    assert!(close(rows.iter().map(|r| r.saved_usd).sum(), t.saved_usd));

    // By mode: pass-through has its own key.
    let rows = r.breakdown(0, GroupBy::Mode).unwrap();
    let by: std::collections::BTreeMap<_, _> =
        rows.iter().map(|r| (r.key.as_str(), r.requests)).collect();
    assert_eq!(by[GroupBy::PASSTHROUGH_KEY], 250);
    assert_eq!(by["auto"], 500);
    assert_eq!(by["auto-coding"], 250);
    assert!(
        close(
            rows.iter()
                .find(|r| r.key == GroupBy::PASSTHROUGH_KEY)
                .unwrap()
                .router_spend_usd,
            0.0
        ),
        "pass-through never pays for a router call"
    );

    // By day: all written within the last second, so one or two UTC days.
    let rows = r.breakdown(0, GroupBy::Day).unwrap();
    assert!((1..=2).contains(&rows.len()), "{rows:?}");
    assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 1000);
    assert_eq!(rows[0].key.len(), 10);

    // Recent: newest first, every field round-trips.
    let recent = r.recent(5).unwrap();
    assert_eq!(recent.len(), 5);
    assert_eq!(recent[0], records[999]);
    assert_eq!(recent[4], records[995]);
    assert_eq!(r.recent(5000).unwrap().len(), 1000);
}

#[test]
fn spend_per_day_groups_by_utc_day_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let day0 = utc_day_start(now_unix_ms()) - 2 * DAY;
    let mut records = Vec::new();
    for (i, (offset, target, cost)) in [
        (0, "a", Some(1.0)),
        (DAY - 1, "a", Some(2.0)),
        (10, "b", None),
        (DAY, "a", Some(0.5)),
        (DAY + 5, "b", Some(0.25)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = rec(i as u64 + 1, day0 + offset);
        r.target = target.to_string();
        r.cost_usd = cost;
        records.push(r);
    }
    write_all(&path, records);
    let r = UsageReader::open(&path).unwrap();
    let days = r.spend_per_day(0).unwrap();
    let d0 = format_utc_ms(day0)[..10].to_string();
    let d1 = format_utc_ms(day0 + DAY)[..10].to_string();
    let got: Vec<(String, String, f64)> = days
        .into_iter()
        .map(|d| (d.day, d.model, d.spend_usd))
        .collect();
    assert_eq!(
        got,
        [
            (d0.clone(), "a".to_string(), 3.0),
            (d0, "b".to_string(), 0.0),
            (d1.clone(), "a".to_string(), 0.5),
            (d1, "b".to_string(), 0.25),
        ]
    );
    assert_eq!(r.spend_per_day(day0 + DAY).unwrap().len(), 2);
    let by_day = r.breakdown(0, GroupBy::Day).unwrap();
    assert_eq!(by_day.len(), 2);
    assert_eq!(by_day[0].requests, 3);
}

#[test]
fn retention_deletes_old_rows_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let now = now_unix_ms();
    write_all(
        &path,
        [
            rec(1, now - 40 * DAY),
            rec(2, now - 31 * DAY),
            rec(3, now - 29 * DAY),
            rec(4, now),
        ],
    );
    assert_eq!(
        UsageReader::open(&path)
            .unwrap()
            .totals(0)
            .unwrap()
            .requests,
        4
    );

    // Retention 0 keeps everything.
    let (_sink, h) = start(&path, 0).unwrap();
    h.flush_and_stop(STOP);
    assert_eq!(
        UsageReader::open(&path)
            .unwrap()
            .totals(0)
            .unwrap()
            .requests,
        4
    );

    let (_sink, h) = start(&path, 30).unwrap();
    h.flush_and_stop(STOP);
    let left: Vec<String> = UsageReader::open(&path)
        .unwrap()
        .recent(10)
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(left, ["req-4", "req-3"]);
}

#[test]
fn missing_file_reads_as_empty_then_appears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope/usage.sqlite3");
    let r = UsageReader::open(&path).unwrap();
    assert_eq!(r.totals(0).unwrap(), Totals::default());
    assert!(r.breakdown(0, GroupBy::Model).unwrap().is_empty());
    assert!(r.recent(10).unwrap().is_empty());
    assert!(r.spend_per_day(0).unwrap().is_empty());
    assert!(!path.exists(), "a reader never creates the file");

    // The same long-lived reader sees the database once the writer has made it.
    write_all(&path, [rec(1, now_unix_ms())]);
    assert_eq!(r.totals(0).unwrap().requests, 1);
}

#[test]
fn file_and_directory_are_private() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/state");
        let path = state.join("usage.sqlite3");
        write_all(&path, [rec(1, 0)]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&path), 0o600);

        // A file left world-readable is tightened on the next start.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_s, h) = start(&path, 0).unwrap();
        h.flush_and_stop(STOP);
        assert_eq!(mode(&path), 0o600);
    }
}

#[test]
fn unopenable_database_errs_and_disabled_sink_swallows() {
    let dir = tempfile::tempdir().unwrap();

    // The directory cannot be created: its parent is a file.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let e = start(&dir.path().join("file/usage.sqlite3"), 0).unwrap_err();
    assert!(matches!(e, UsageError::CreateDir { .. }), "{e}");
    assert!(e.to_string().contains("file"), "{e}");

    // The file is not a database.
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, vec![b'j'; 4096]).unwrap();
    let e = start(&junk, 0).unwrap_err();
    assert!(matches!(e, UsageError::Open { .. }), "{e}");
    assert!(e.to_string().contains("junk.sqlite3"), "{e}");
    assert!(
        UsageReader::open(&junk).is_err(),
        "a reader reports a junk file"
    );

    // A read-only directory (only meaningful when not root: root writes anyway).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        let root_bypasses = std::fs::write(ro.join("probe"), b"").is_ok();
        if !root_bypasses {
            let e = start(&ro.join("usage.sqlite3"), 0).unwrap_err();
            assert!(e.to_string().contains("usage.sqlite3"), "{e}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    // What the gateway falls back to: records vanish, counted, nothing blocks.
    let sink = UsageSink::disabled();
    assert!(!sink.is_enabled());
    for i in 0..100 {
        sink.record(rec(i, 0));
    }
    assert_eq!(sink.dropped(), 100);
}

/// Runs `f` on its own thread and waits for it to return. "Does not block" is a promise about
/// an event (the call returns), not about a duration: the generous bound only turns a call
/// that blocks forever into a failure instead of a hung test run.
fn returns(what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    assert!(
        returned.recv_timeout(Duration::from_secs(60)).is_ok(),
        "{what} blocked"
    );
}

#[test]
fn full_channel_drops_and_counts_without_blocking() {
    let q = test_support::undrained(10);
    let sink = q.sink.clone();
    returns("record() into a full queue", move || {
        for i in 0..25 {
            sink.record(rec(i, 0));
        }
    });
    assert_eq!(q.sink.dropped(), 15);
    // Clones share the counter.
    q.sink.clone().record(rec(99, 0));
    assert_eq!(q.sink.dropped(), 16);

    // A writer that is gone: every record is dropped, none blocks.
    let gone = test_support::disconnected();
    gone.record(rec(1, 0));
    assert_eq!(gone.dropped(), 1);
}

#[test]
fn records_after_stop_are_dropped_not_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let (sink, h) = start(&path, 0).unwrap();
    sink.record(rec(1, 1));
    h.flush_and_stop(STOP);
    let s = sink.clone();
    returns("record() after stop", move || {
        for i in 0..(writer::CHANNEL_CAPACITY as u64 + 5) {
            s.record(rec(i, 2));
        }
    });
    assert!(sink.dropped() >= 5, "{}", sink.dropped());
    assert_eq!(
        UsageReader::open(&path)
            .unwrap()
            .totals(0)
            .unwrap()
            .requests,
        1
    );
}

#[test]
fn a_partial_batch_is_written_without_a_stop() {
    // One record, far from a full batch: the writer stores it on its own (when the batch
    // window closes), without a flush. The bound only turns "never" into a failure.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let (sink, h) = start(&path, 0).unwrap();
    sink.record(rec(1, 1));
    let r = UsageReader::open(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while r.totals(0).unwrap().requests == 0 {
        assert!(Instant::now() < deadline, "never written without a stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    h.flush_and_stop(STOP);
}

#[test]
fn concurrent_reader_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let (sink, h) = start(&path, 0).unwrap();
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || {
        let r = UsageReader::open(&reader_path).unwrap();
        let mut last = 0;
        let mut reads = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while last < 5000 && Instant::now() < deadline {
            let t = r.totals(0).expect("read while writing");
            assert!(t.requests >= last, "counts only grow");
            last = t.requests;
            r.breakdown(0, GroupBy::Model)
                .expect("breakdown while writing");
            r.recent(20).expect("recent while writing");
            reads += 1;
        }
        (last, reads)
    });
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                for i in 0..1250 {
                    sink.record(rec(w * 10_000 + i, now_unix_ms()));
                    if i % 100 == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    h.flush_and_stop(STOP);
    let (seen, reads) = reader.join().unwrap();
    assert_eq!(sink.dropped(), 0);
    assert_eq!(seen, 5000);
    assert!(reads > 1);
}

#[test]
fn reader_shares_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<UsageReader>();
    assert_send_sync::<UsageSink>();
}

#[test]
fn group_by_parses() {
    assert_eq!("model".parse::<GroupBy>().unwrap(), GroupBy::Model);
    assert_eq!("Day".parse::<GroupBy>().unwrap(), GroupBy::Day);
    assert_eq!("mode".parse::<GroupBy>().unwrap(), GroupBy::Mode);
    let e = "week".parse::<GroupBy>().unwrap_err().to_string();
    assert!(
        e.contains("week") && e.contains("model, day or mode"),
        "{e}"
    );
}

#[test]
fn schema_version_is_recorded_and_reopen_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    write_all(&path, [rec(1, 1)]);
    write_all(&path, [rec(2, 2)]);
    assert!(
        !dir.path().join("usage.sqlite3-wal").exists(),
        "a stopped writer has closed its connection and checkpointed the WAL"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        schema::current_version(&conn).unwrap(),
        schema::SCHEMA_VERSION
    );
    assert_eq!(
        UsageReader::open(&path)
            .unwrap()
            .totals(0)
            .unwrap()
            .requests,
        2
    );
}
