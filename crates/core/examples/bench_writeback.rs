//! Benchmark of the whole-query write-back (`writeback_batch`): the real `hub` binary writes a
//! streamed `json_detail_lite_stream` result of N rows to BigQuery (the emulator) or the embedded
//! store; reports rows/s and the hub process's peak RSS (VmHWM). Run by scripts/bench/writeback_batch.sh.
//!
//! Usage: bench_writeback HUB_BIN [ROWS...]   (needs BQ_EMULATOR_REST / _GRPC / _PROJECT)

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (source scripts/services/bigquery.sh)"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// VmHWM / VmRSS of a process, in MiB.
fn mem_mib(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) a process has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: utime and stime are the 12th and 13th.
    let rest = stat.rsplit(") ").next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
        + f.get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
    ticks / 100.0
}

fn row(i: usize) -> Value {
    json!({
        "orders.id": {"value": 1_000_000 + i},
        "orders.created": {"value": "2026-01-02 10:11:12"},
        "orders.status": {"value": if i.is_multiple_of(3) { "complete" } else { "pending" }},
        "users.email": {"value": format!("user{i}@example.com")},
        "orders.total": {"value": (i % 997) as f64 * 1.25}
    })
}

/// Serve one result of `n` rows, generated while it is sent (nothing held in memory).
async fn serve(n: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16384];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let k = s.read(&mut buf).await.unwrap();
            if k == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..k]);
        }
        let fields = json!({
            "dimensions": [
                {"name": "orders.id", "tags": ["mark-suspicious"]},
                {"name": "orders.created", "tags": []},
                {"name": "orders.status", "tags": []},
                {"name": "users.email", "tags": ["email"]}
            ],
            "measures": [{"name": "orders.total", "tags": []}],
            "table_calculations": [], "pivots": []
        });
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{{\"ran_at\":\"2026-11-23T10:00:00Z\",\"fields\":{fields},\"data\":[");
        s.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::with_capacity(128 * 1024);
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &row(i)).unwrap();
            if out.len() > 64 * 1024 {
                if s.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
        out.extend_from_slice(b"]}");
        let _ = s.write_all(&out).await;
        let _ = s.shutdown().await;
    });
    format!("http://{addr}/download")
}

struct Hub {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_hub(bin: &str, vars: &[(&str, String)], client: &reqwest::Client) -> Hub {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("bench-writeback-{port}"));
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PORT", port.to_string())
        .env("HUB_BIND", "127.0.0.1")
        .env("HUB_TOKENS", "bench-token")
        // The download server of the bench listens on 127.0.0.1.
        .env("HUB_OUTBOUND_ALLOW", "127.0.0.1")
        .env("HUB_STORE_PATH", dir.join("store.sqlite"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start the hub binary");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "hub did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Hub { child, url, dir }
}

async fn bq_count(client: &reqwest::Client, rest: &str, project: &str, ds: &str) -> String {
    let r: Value = client
        .post(format!("{rest}/bigquery/v2/projects/{project}/queries"))
        .json(&json!({"query": format!("SELECT COUNT(*) AS n FROM `{project}.{ds}.suspicious_marks_batch`"), "useLegacySql": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["rows"][0]["f"][0]["v"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .expect("usage: bench_writeback HUB_BIN [ROWS...]");
    let sizes: Vec<usize> = args.map(|a| a.parse().expect("rows")).collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let rest = env("BQ_EMULATOR_REST");
    let grpc = env("BQ_EMULATOR_GRPC");
    let project = env("BQ_EMULATOR_PROJECT");
    hub_core::gcp::install_crypto();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1800))
        .build()
        .unwrap();

    println!("| sink | rows | seconds | rows/s | hub CPU s | hub idle RSS MiB | hub peak RSS MiB | rows in table |");
    println!("|---|---|---|---|---|---|---|---|");
    for sink in ["bigquery", "sqlite"] {
        for &n in &sizes {
            let ds = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let vars: Vec<(&str, String)> = if sink == "bigquery" {
                vec![
                    ("HUB_GCP_PROJECT", project.clone()),
                    ("HUB_BIGQUERY_DATASET", ds.clone()),
                    ("HUB_BIGQUERY_ENDPOINT", rest.clone()),
                    ("HUB_BIGQUERY_STORAGE_ENDPOINT", grpc.clone()),
                    ("HUB_GCP_ACCESS_TOKEN", "bench".into()),
                    ("HUB_BIGQUERY_CREATE_TABLES", "true".into()),
                    ("HUB_BIGQUERY_TIMEOUT_SECS", "60".into()),
                ]
            } else {
                vec![]
            };
            let hub = start_hub(&bin, &vars, &client).await;
            let pid = hub.child.id();
            let idle = mem_mib(pid, "VmRSS:");
            let cpu0 = cpu_secs(pid);
            let url = serve(n).await;
            let body = json!({
                "type": "query",
                "scheduled_plan": {"scheduled_plan_id": 1, "query_id": "bench", "download_url": url},
                "data": {"user_email": "bench@example.com"},
                "form_params": {"classification": "Suspicious", "comment": "bench"}
            });
            let started = Instant::now();
            let resp = client
                .post(format!("{}/actions/writeback_batch/execute", hub.url))
                .header("Authorization", "Token token=\"bench-token\"")
                .json(&body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let secs = started.elapsed().as_secs_f64();
            let peak = mem_mib(pid, "VmHWM:");
            let cpu = cpu_secs(pid) - cpu0;
            let resp: Value = serde_json::from_str(resp.trim()).unwrap_or(Value::Null);
            assert_eq!(resp["looker"]["success"], true, "{resp}");
            let stored = if sink == "bigquery" {
                bq_count(&client, &rest, &project, &ds).await
            } else {
                "-".into()
            };
            println!(
                "| {sink} | {n} | {secs:.2} | {:.0} | {cpu:.2} | {idle:.1} | {peak:.1} | {stored} |",
                n as f64 / secs
            );
            std::io::stdout().flush().ok();
        }
    }
}
