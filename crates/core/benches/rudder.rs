//! RudderStack Track end to end: a generated `json_detail_lite_stream` result of N rows × 10
//! fields served as a `download_url`, `rudder_track` executed by the real hub binary (a child
//! process), events delivered to a local data plane. Reports rows/s and the hub's peak RSS.
//!
//! Run with `scripts/bench_rudder.sh` (builds the release hub first), or
//! `HUB_BIN=target/release/hub cargo bench -p hub_core --bench rudder -- 100000 1000000`.

#[path = "../tests/api/download.rs"]
mod download;
#[path = "support/process.rs"]
mod process;
#[path = "../tests/api/receiver.rs"]
mod receiver;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use download::{DownloadServer, Serve};
use process::{cpu_seconds, hub_bin, rss_kib};
use receiver::{Keep, Receiver};

const TOKEN: &str = "bench-hub-token";
const WRITE_KEY: &str = "bench-write-key";
const FIELDS: usize = 10;

struct Run {
    rows: usize,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_mib: f64,
    idle_rss_mib: f64,
    received: u64,
    message: String,
}

async fn run(rows: usize, client: &reqwest::Client) -> Run {
    let doc = download::users_result(rows, FIELDS);
    let doc_mib = doc.len() as f64 / (1024.0 * 1024.0);
    let server = DownloadServer::start(Arc::new(doc), Serve::default()).await;
    let plane = Receiver::start(WRITE_KEY, Keep::Counts).await;

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = std::env::temp_dir().join(format!("rudder-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(hub_bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("HUB_BIND", "127.0.0.1")
        .env("HUB_TOKENS", TOKEN)
        // The data plane and download server of the bench listen on 127.0.0.1.
        .env("HUB_OUTBOUND_ALLOW", "127.0.0.1")
        .env("HUB_STORE_PATH", dir.join("writeback.sqlite"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the hub binary {} ({e}): build it with `cargo build --release -p hub`", hub_bin()));
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the hub did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, idle) = rss_kib(child.id());
    let cpu_before = cpu_seconds(child.id());

    let body = serde_json::json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 1, "download_url": server.url,
                           "query": {"vis_config": {"hidden_fields": []}}},
        "data": {"rudder_write_key": WRITE_KEY, "rudder_server_url": plane.url},
        "form_params": {"event": "Bench"},
    });
    eprintln!("running {rows} rows × {FIELDS} fields ({doc_mib:.0} MiB of json_detail)…");
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/actions/rudder_track/execute"))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .header("User-Agent", "LookerOutgoingWebhook/25.4.12")
        .header("X-Looker-Webhook-Id", format!("bench-{rows}"))
        .json(&body)
        .send()
        .await
        .expect("execute");
    let text = resp.text().await.expect("execute answer");
    let seconds = started.elapsed().as_secs_f64();
    let (peak, _) = rss_kib(child.id());
    let cpu = cpu_seconds(child.id()) - cpu_before;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let answer: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    assert_eq!(answer["looker"]["success"], true, "{answer}");
    Run {
        rows,
        seconds,
        cpu_seconds: cpu,
        peak_rss_mib: peak as f64 / 1024.0,
        idle_rss_mib: idle as f64 / 1024.0,
        received: plane.counted(),
        message: answer["looker"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        hub_core::gcp::install_crypto();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap();
        println!("| rows | seconds | rows/s | hub CPU µs/row | hub peak RSS (MiB) | hub idle RSS (MiB) |");
        println!("|---:|---:|---:|---:|---:|---:|");
        for rows in sizes {
            let r = run(rows, &client).await;
            assert_eq!(r.received, r.rows as u64, "events received: {}", r.message);
            println!(
                "| {} | {:.2} | {:.0} | {:.2} | {:.1} | {:.1} |",
                r.rows,
                r.seconds,
                r.rows as f64 / r.seconds,
                r.cpu_seconds * 1e6 / r.rows as f64,
                r.peak_rss_mib,
                r.idle_rss_mib
            );
        }
    });
}
