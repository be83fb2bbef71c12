//! Change-only sends end to end: `rudder_event` (Identify) over a generated result of N users ×
//! 10 fields, streamed as a `download_url` (rendered to a file in the system's temporary folder
//! before the run, ~330 bytes a row, and served from it), through the real hub binary, to a local
//! data plane. Each run is a fresh hub process sharing one change-state file, so its peak RSS
//! (`VmHWM`) is that run's:
//!
//! 1. every row (`send_mode` every): the baseline;
//! 2. only new or changed rows, first run: every row sent and remembered;
//! 3. only new or changed rows with a fraction of the rows changed (default 1 %);
//! 4. only new or changed rows with every row changed.
//!
//! `--repeat N` runs the four N times (each time on a fresh change state) and prints each run's
//! median time and CPU, every time, and the largest peak RSS: on a shared machine single runs
//! vary by 10-40 %.
//!
//! Run with `scripts/bench_rudder.sh --changed [--fraction F] [--repeat N] [ROWS...]` (builds the
//! release hub first), or
//! `HUB_BIN=target/release/hub cargo bench -p hub_core --bench rudder_changes -- 1000000`.

#[path = "support/process.rs"]
mod process;
#[path = "../tests/api/receiver.rs"]
mod receiver;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use process::{cpu_seconds, hub_bin, rss_kib};
use receiver::{Keep, Receiver};

const TOKEN: &str = "bench-hub-token";
const WRITE_KEY: &str = "bench-write-key";
const FIELDS: usize = 10;

/// Which rows a generation changed: row `i` changes in generation `g` when a hash of (i, g) falls
/// under `fraction` (`1.0`: every row).
fn changes_in(i: u64, generation: u64, fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let mut z =
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ generation.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 29;
    (z % 1_000_000) < (fraction * 1_000_000.0) as u64
}

/// The data of one run: every row as of generation `generation`, where each earlier generation
/// `g >= 1` changed the rows `changes_in(i, g, fractions[g])` picks.
#[derive(Clone)]
struct Data {
    rows: u64,
    fractions: Vec<f64>,
}

impl Data {
    /// The last generation that changed row `i` (0: never changed).
    fn version(&self, i: u64) -> usize {
        (1..self.fractions.len())
            .rev()
            .find(|&g| changes_in(i, g as u64, self.fractions[g]))
            .unwrap_or(0)
    }

    fn changed_in_last(&self) -> u64 {
        let g = self.fractions.len() - 1;
        if g == 0 {
            return self.rows;
        }
        (0..self.rows)
            .filter(|&i| changes_in(i, g as u64, self.fractions[g]))
            .count() as u64
    }

    fn header() -> String {
        let mut f = vec![
            r#"{"name":"users.id","label":"Id","tags":["user_id"]}"#.to_string(),
            r#"{"name":"users.email","label":"Email","tags":["email"]}"#.to_string(),
        ];
        for i in 2..FIELDS {
            f.push(format!(
                r#"{{"name":"users.f{i}","label":"F{i}","tags":[]}}"#
            ));
        }
        format!(
            r#"{{"ran_at":"2024-05-01T10:00:00+00:00","fields":{{"dimensions":[{}],"measures":[],"table_calculations":[],"pivots":[]}},"data":["#,
            f.join(",")
        )
    }

    fn row(&self, i: u64, out: &mut String) {
        use std::fmt::Write;
        let v = self.version(i);
        let _ = write!(
            out,
            r#"{{"users.id":{{"value":{i}}},"users.email":{{"value":"user{i}@example.com"}}"#
        );
        for f in 2..FIELDS as u64 {
            let _ = match f % 4 {
                0 => write!(out, r#","users.f{f}":{{"value":"text {i} {f} v{v}"}}"#),
                1 => write!(out, r#","users.f{f}":{{"value":{}}}"#, (i * 7 + f) % 1000),
                2 => write!(out, r#","users.f{f}":{{"value":{}}}"#, i.is_multiple_of(2)),
                _ => write!(
                    out,
                    r#","users.f{f}":{{"value":"2024-01-{:02}"}}"#,
                    i % 28 + 1
                ),
            };
        }
        out.push('}');
    }

    /// Write the whole result document to `path`: rendered before the run, so that serving it
    /// costs the bench next to no CPU (Looker serves downloads from machines of its own; a
    /// generator sharing the hub's two cores took a quarter of one).
    fn write_to(&self, path: &std::path::Path) {
        use std::io::Write;
        let mut file =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
        let mut row = Data::header();
        for i in 0..self.rows {
            if i > 0 {
                row.push(',');
            }
            self.row(i, &mut row);
            file.write_all(row.as_bytes()).unwrap();
            row.clear();
        }
        row.push_str("]}");
        file.write_all(row.as_bytes()).unwrap();
        // On disk before the run starts: its writeback must not land in the hub's time.
        file.into_inner().unwrap().sync_all().unwrap();
    }
}

/// Serve the document at `path` once per request, read from the file while it is sent (chunked,
/// 1 MiB a chunk), by plain threads: a tokio file read is a trip to the blocking pool per read
/// (5 300 of 64 KiB per 1 000 000 rows), CPU of the two cores the hub runs on. The server stops
/// when the handle is dropped.
fn serve(path: std::path::PathBuf) -> (String, Server) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            if stopped.load(Ordering::SeqCst) {
                break;
            }
            let (Ok(sock), path) = (sock, path.clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = send_document(sock, &path);
            });
        }
    });
    let url = format!("http://{addr}/api/internal/query_results/bench/download?token=one-time");
    (url, Server { addr, stop })
}

/// The document server of one run.
struct Server {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

fn send_document(mut sock: std::net::TcpStream, path: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf)? {
            0 => return Ok(()),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")?;
    let mut file = std::fs::File::open(path)?;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        sock.write_all(format!("{n:x}\r\n").as_bytes())?;
        sock.write_all(&chunk[..n])?;
        sock.write_all(b"\r\n")?;
    }
    sock.write_all(b"0\r\n\r\n")?;
    sock.shutdown(std::net::Shutdown::Write)
}

struct Run {
    seconds: f64,
    cpu_seconds: f64,
    peak_mib: f64,
    received: u64,
    message: String,
}

/// One execute of `rudder_event` in `mode` over `data`, by a fresh hub process using the change
/// state in `dir`.
async fn run(mode: &str, data: Data, dir: &std::path::Path, plane: &Receiver) -> Run {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1800))
        .build()
        .unwrap();
    let document = dir.join("result.json");
    data.write_to(&document);
    let (url, server) = serve(document.clone());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(hub_bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("HUB_BIND", "127.0.0.1")
        .env("HUB_TOKENS", TOKEN)
        .env("HUB_OUTBOUND_ALLOW", "127.0.0.1")
        .env("HUB_STORE_PATH", dir.join("writeback.sqlite"))
        .env("HUB_CHANGE_STATE_PATH", dir.join("change-state.sqlite"))
        .env("HUB_RUN_LEDGER", "false")
        // A run reserves room for its memory before reading it, assuming as many new keys as
        // remembered ones (194 MiB at 10 000 000): an instance of 1 GiB, as docs/operations.md
        // advises for such schedules.
        .env("HUB_MEMORY_BUDGET_BYTES", (896u64 << 20).to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the hub binary {} ({e}): build it with `cargo build --release -p hub`", hub_bin()));
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the hub did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = plane.counted();
    let cpu_before = cpu_seconds(child.id());
    let body = serde_json::json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 1, "download_url": url,
                           "query": {"vis_config": {"hidden_fields": []}}},
        "data": {"rudder_write_key": WRITE_KEY, "rudder_server_url": plane.url},
        "form_params": {"send_mode": mode},
    });
    let started = Instant::now();
    let text = client
        .post(format!("{base}/actions/rudder_event/execute"))
        .header("Authorization", format!("Token token=\"{TOKEN}\""))
        .header("User-Agent", "LookerOutgoingWebhook/25.4.12")
        .json(&body)
        .send()
        .await
        .expect("execute")
        .text()
        .await
        .expect("execute answer");
    let seconds = started.elapsed().as_secs_f64();
    let (peak, _) = rss_kib(child.id());
    let cpu = cpu_seconds(child.id()) - cpu_before;
    let _ = child.kill();
    let _ = child.wait();
    drop(server);
    let _ = std::fs::remove_file(&document);
    let answer: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    assert_eq!(answer["looker"]["success"], true, "{answer}");
    Run {
        seconds,
        cpu_seconds: cpu,
        peak_mib: peak as f64 / 1024.0,
        received: plane.counted() - before,
        message: answer["looker"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    }
}

/// Rows whose 44-bit key hashes collide (about 3 pairs in 10 000 000 keys) look repeated and are
/// sent on every run: at most this many beyond the changed rows.
const COLLIDING_ROWS: u64 = 16;

/// Check that run `r` sent the `expected` events.
fn check(what: &str, r: &Run, expected: u64) {
    assert!(
        r.received >= expected && r.received - expected <= COLLIDING_ROWS,
        "{what}: {} events received, {expected} expected ({})",
        r.received,
        r.message
    );
}

/// One line of the table: the median of the runs' times and CPU (each run's time listed when
/// there are several), the largest peak RSS.
fn print(rows: u64, what: &str, runs: &[Run]) {
    let median = |f: &dyn Fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let each = match runs.len() {
        1 => String::new(),
        _ => format!(
            " ({})",
            runs.iter()
                .map(|r| format!("{:.2}", r.seconds))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    };
    println!(
        "| {rows} | {what} | {} | {:.2}{each} | {:.2} | {:.1} |",
        runs[0].received,
        median(&|r| r.seconds),
        median(&|r| r.cpu_seconds) * 1e6 / rows as f64,
        runs.iter().map(|r| r.peak_mib).fold(0.0, f64::max)
    );
}

/// The four runs over `rows` rows, by fresh hubs sharing a fresh change state: each `Run` with
/// what it is.
async fn runs(rows: u64, fraction: f64, plane: &Receiver) -> Vec<(String, Run)> {
    let dir = std::env::temp_dir().join(format!(
        "rudder-changes-bench-{}-{rows}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let at = |fractions: Vec<f64>| Data { rows, fractions };
    let mut done = Vec::new();
    let r = run("every", at(vec![0.0]), &dir, plane).await;
    check("every row", &r, rows);
    done.push(("every row".to_string(), r));
    let r = run("changed", at(vec![0.0]), &dir, plane).await;
    check("first run", &r, rows);
    done.push(("changed: first run".to_string(), r));
    let some = at(vec![0.0, fraction]);
    let expected = some.changed_in_last();
    let what = format!("changed: {} % changed", fraction * 100.0);
    let r = run("changed", some, &dir, plane).await;
    check(&what, &r, expected);
    done.push((what, r));
    let r = run("changed", at(vec![0.0, fraction, 1.0]), &dir, plane).await;
    check("every row changed", &r, rows);
    done.push(("changed: every row changed".to_string(), r));
    let _ = std::fs::remove_dir_all(&dir);
    done
}

fn main() {
    let mut fraction = 0.01;
    let mut repeat = 1usize;
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--fraction" => {
                fraction = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--fraction F")
            }
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--repeat N")
            }
            "--bench" => {}
            n => sizes.extend(n.replace('_', "").parse::<u64>().ok()),
        }
    }
    if sizes.is_empty() {
        sizes.push(1_000_000);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        hub_core::gcp::install_crypto();
        println!("| rows | run | events sent | seconds | hub CPU µs/row | hub peak RSS (MiB) |");
        println!("|---:|---|---:|---:|---:|---:|");
        for rows in sizes {
            let plane = Receiver::start(WRITE_KEY, Keep::Counts).await;
            let mut all: Vec<(String, Vec<Run>)> = Vec::new();
            for _ in 0..repeat {
                for (i, (what, r)) in runs(rows, fraction, &plane).await.into_iter().enumerate() {
                    match all.get_mut(i) {
                        Some((_, kept)) => kept.push(r),
                        None => all.push((what, vec![r])),
                    }
                }
            }
            for (what, kept) in &all {
                print(rows, what, kept);
            }
        }
    });
}
