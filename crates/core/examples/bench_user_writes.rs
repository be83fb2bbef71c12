//! Benchmark of cell write-backs with a user's own OAuth token (user identity mode): the BigQuery
//! sink appends one row per call to the emulator, with a token whose Write client is kept between
//! calls (the sink's per-user cache) and with a token about to expire, which the cache does not
//! keep — one new client (connection + stream) per write, as every user write did before the
//! cache. Reports the latency of each call. Run by scripts/bench/user_writes.sh.
//!
//! Usage: bench_user_writes [WRITES]   (needs BQ_EMULATOR_REST / _GRPC / _PROJECT)

use std::time::{Duration, Instant};

use hub_core::sinks::bigquery::{BigQuerySettings, BigQuerySink};
use hub_core::sinks::{Row, WriteCredential};

/// The test fixtures this benchmark uses (`tests/api/support/`), included by path.
#[allow(dead_code)]
#[path = "../tests/api/support/rows.rs"]
mod rows;
use hub_core::startup::StartBudget;
use rows::{mark_by, AppendMark};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (source scripts/services/bigquery.sh)"))
}

fn row(i: usize) -> Row {
    mark_by(&format!("ORD-{i}"), "ann@example.com")
}

fn report(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "{label:<44} n={:<4} median {:>6.2} ms  p90 {:>6.2} ms  mean {:>6.2} ms  max {:>6.2} ms",
        ms.len(),
        pct(0.5),
        pct(0.9),
        mean,
        pct(1.0)
    );
}

#[tokio::main]
async fn main() {
    let writes: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let dataset = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let settings = BigQuerySettings {
        project: env("BQ_EMULATOR_PROJECT"),
        dataset,
        marks_table: "suspicious_marks".into(),
        batch_table: "suspicious_marks_batch".into(),
        endpoint: env("BQ_EMULATOR_REST"),
        storage_endpoint: env("BQ_EMULATOR_GRPC"),
        timeout: Duration::from_secs(30),
        create_tables: true,
        location: None,
    };
    let sink = BigQuerySink::start_with(
        settings,
        &hub_core::declared::builtin::tables(),
        Some(&"bench-service-token".to_string().into()),
        StartBudget::new(Duration::ZERO),
    )
    .await
    .expect("tables created in the emulator");
    let now = chrono::Utc::now().timestamp();
    let kept = WriteCredential::User {
        access_token: "bench-user-token-kept".to_string().into(),
        expires_at: Some(now + 3600),
    };
    // Expires within the cache's margin: never kept, a new client for every write.
    let fresh = WriteCredential::User {
        access_token: "bench-user-token-fresh".to_string().into(),
        expires_at: Some(now + 30),
    };
    // Warm the emulator up.
    for i in 0..10 {
        sink.append_mark(&row(i), &kept).await.unwrap();
    }
    let mut cached = vec![];
    let mut uncached = vec![];
    // Interleaved, so both see the same emulator (its table grows as the bench runs).
    for i in 0..writes {
        let t = Instant::now();
        sink.append_mark(&row(i), &fresh).await.unwrap();
        uncached.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        sink.append_mark(&row(i), &kept).await.unwrap();
        cached.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    report("new client per write (before the cache)", uncached);
    report("client kept per user token (the cache)", cached);
}
