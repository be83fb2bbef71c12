//! Benchmark of a whole-query write-back: the real `hub` binary runs a query action — the built-in
//! `writeback_batch` unless told otherwise, or any query action of an actions file — over a
//! `json_detail_lite_stream` result of N rows served from a local `download_url`, into BigQuery
//! (the emulator) and / or the embedded store. The result is generated while it is sent (the
//! stand-in of `tests/api/support/results.rs`): neither the bench nor the download server holds
//! it, so 1 000 000 rows cost the bench no more memory than 1 000. Reports rows/s, the hub
//! process's CPU time (total and per row), its idle and peak RSS (`VmHWM`) and the rows the table
//! holds afterwards. Run by scripts/bench/writeback_batch.sh.
//!
//! A cell action (`--action mark_suspicious`) is run as N cell executes one after the other, one
//! row and one commit each (what a user clicking costs the store): ROWS counts the executes.
//!
//! Usage: bench_writeback HUB_BIN [--actions-file FILE --action NAME] [--sinks bigquery,sqlite]
//!                        [--form NAME=VALUE]... [ROWS...]
//! `BENCH_ACTIONS_FILE`, `BENCH_ACTION` and `BENCH_SINKS` give the same options. The result has
//! the test result's fields (order id, created, email, total) plus every result field the action
//! maps to a column, with values of the column's type; the key field (the first mapped one, else
//! `orders.id`) carries the action's `key_tag`. Form values are the field's default, else a valid
//! value of its type (`--form` for a text field with a pattern). BigQuery needs BQ_EMULATOR_REST /
//! _GRPC / _PROJECT (source scripts/services/bigquery.sh).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hub_core::declared::model::{DefaultValue, Identity, ValueType};
use hub_core::declared::{ActionDef, ColumnType, Field, Kind};
use serde_json::{json, Map, Value};

/// The test stand-ins this benchmark uses (`tests/api/support/`), included by path.
#[allow(dead_code)]
#[path = "../tests/api/support/emulator.rs"]
mod emulator;
#[allow(dead_code)]
#[path = "../tests/api/support/results.rs"]
mod results;

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

/// What the command line asked for.
struct Options {
    hub_bin: String,
    actions_file: Option<PathBuf>,
    action: String,
    sinks: Vec<String>,
    form: Vec<(String, String)>,
    sizes: Vec<usize>,
}

const USAGE: &str = "usage: bench_writeback HUB_BIN [--actions-file FILE --action NAME] \
                     [--sinks bigquery,sqlite] [--form NAME=VALUE]... [ROWS...]";

fn options() -> Result<Options, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut o = Options {
        hub_bin: String::new(),
        actions_file: var("BENCH_ACTIONS_FILE").map(PathBuf::from),
        action: var("BENCH_ACTION").unwrap_or_else(|| "writeback_batch".into()),
        sinks: var("BENCH_SINKS")
            .unwrap_or_else(|| "bigquery,sqlite".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        form: vec![],
        sizes: vec![],
    };
    let mut args = std::env::args().skip(1);
    let mut bin = None;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--actions-file" => o.actions_file = Some(PathBuf::from(value()?)),
            "--action" => o.action = value()?,
            "--sinks" => o.sinks = value()?.split(',').map(|s| s.trim().into()).collect(),
            "--form" => {
                let v = value()?;
                let (k, v) = v.split_once('=').ok_or(format!("--form {v}: NAME=VALUE"))?;
                o.form.push((k.into(), v.into()));
            }
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ if bin.is_none() => bin = Some(a),
            _ => o
                .sizes
                .push(a.parse().map_err(|_| format!("{a} is not a row count"))?),
        }
    }
    o.hub_bin = bin.ok_or("no HUB_BIN")?;
    if let Some(s) = o
        .sinks
        .iter()
        .find(|s| !["bigquery", "sqlite"].contains(&s.as_str()))
    {
        return Err(format!("unknown sink {s:?}: bigquery or sqlite"));
    }
    if o.sizes.is_empty() {
        o.sizes = vec![10_000, 100_000];
    }
    Ok(o)
}

/// The action to run, from the actions file or the built-in ones.
fn action(o: &Options) -> Result<ActionDef, String> {
    let file = match &o.actions_file {
        Some(path) => hub_core::declared::load(path).map_err(|p| format!("{p}"))?,
        None => hub_core::declared::builtin::catalog(),
    };
    let def = file.get(&o.action).cloned().ok_or_else(|| {
        let names: Vec<&str> = file.actions.iter().map(|a| a.name.as_str()).collect();
        format!("no action {:?} in {} ({names:?})", o.action, file.source)
    })?;
    if def.identity == Identity::User {
        return Err(format!(
            "{} writes with each user's own login; the bench runs the hub's service identity",
            def.name
        ));
    }
    Ok(def)
}

/// A value of `column` type for row `i`, as a Looker cell carries it (converted by the hub).
fn typed_value(column: ColumnType, i: usize) -> Value {
    match column {
        ColumnType::String => json!(format!("item {i}")),
        ColumnType::Int64 => json!(i as i64 + 1),
        ColumnType::Numeric => json!(format!("{}.{:02}", i % 10_000, i % 100)),
        ColumnType::Float64 => json!((i % 997) as f64 * 1.25),
        ColumnType::Bool => json!(i.is_multiple_of(2)),
        ColumnType::Date => json!(format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1)),
        ColumnType::Timestamp => json!(format!("2026-01-02 10:11:{:02}", i % 60)),
        ColumnType::Json => json!({"i": i, "tags": ["bench"]}),
    }
}

/// The result's fields for `def` and the result fields added to the test result's rows.
fn result_fields(def: &ActionDef) -> (Value, Vec<(String, ColumnType)>) {
    let mut fields = results::fields();
    let key = def
        .result_columns
        .first()
        .map_or("orders.id".to_string(), |c| c.field.clone());
    // The tag the hub finds the key field by (what the generated LookML puts on it, too).
    let tags: Vec<String> = def.key_tag.iter().cloned().collect();
    let dims = fields["dimensions"].as_array_mut().unwrap();
    let mut extra = vec![];
    for c in &def.result_columns {
        if !dims.iter().any(|d| d["name"] == c.field.as_str()) {
            dims.push(json!({"name": c.field, "label": c.field, "tags": []}));
            extra.push((c.field.clone(), c.column_type));
        }
    }
    for d in dims.iter_mut() {
        if d["name"] == key.as_str() {
            d["tags"] = json!(tags);
        } else if d["name"] != "users.email" {
            d["tags"] = json!([]);
        }
    }
    (fields, extra)
}

/// The form's values: `--form`, else the field's default, else a valid value of its type.
fn form_params(def: &ActionDef, given: &[(String, String)]) -> Result<Map<String, Value>, String> {
    let today = chrono::Utc::now().date_naive();
    let mut form = Map::new();
    for f in &def.fields {
        let v = match given.iter().find(|(k, _)| *k == f.name) {
            Some((_, v)) => v.clone(),
            None => default_value(f, today)?,
        };
        form.insert(f.name.clone(), json!(v));
    }
    Ok(form)
}

fn default_value(f: &Field, today: chrono::NaiveDate) -> Result<String, String> {
    let literal = match &f.default {
        Some(DefaultValue::Literal(d)) => Some(d.clone()),
        Some(DefaultValue::Today) => Some(today.to_string()),
        Some(DefaultValue::Param(p)) if p == "user_email" => Some("bench@example.com".into()),
        _ => None,
    };
    if !f.options.is_empty() {
        return Ok(literal
            .filter(|d| f.options.iter().any(|o| o.name == *d))
            .unwrap_or_else(|| f.options[0].name.clone()));
    }
    if let Some(d) = literal {
        return Ok(d);
    }
    let number = || f.min.unwrap_or(1.0).max(1.0).min(f.max.unwrap_or(f64::MAX));
    Ok(match f.value {
        ValueType::Integer => format!("{}", number().ceil() as i64),
        ValueType::Number => format!("{}", number()),
        ValueType::Date => (today + chrono::Days::new(7)).to_string(),
        ValueType::Boolean => "no".into(),
        ValueType::Email => "bench@example.com".into(),
        ValueType::Text if f.pattern.is_some() => {
            return Err(format!(
                "field {} must match a pattern: give its value with --form {}=VALUE",
                f.name, f.name
            ))
        }
        ValueType::Text => {
            let mut t = "bench".to_string();
            while t.len() < f.min_length.unwrap_or(0) {
                t.push('x');
            }
            t.truncate(f.max_length.unwrap_or(usize::MAX));
            t
        }
    })
}

/// The actions file the hub is started with: the benchmarked action alone (another action of the
/// file may need settings the bench does not give, such as OAuth for `identity: user`), written
/// as JSON (valid YAML) next to the file so that relative icon paths still resolve; removed when
/// dropped.
struct OneAction(PathBuf);

impl Drop for OneAction {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn one_action_file(path: &std::path::Path, name: &str) -> Result<OneAction, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let actions = doc["actions"]
        .as_array_mut()
        .ok_or(format!("{}: no actions list", path.display()))?;
    actions.retain(|a| a["name"] == name);
    let dir = std::fs::canonicalize(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .parent()
        .unwrap()
        .to_path_buf();
    let out = OneAction(dir.join(format!(".bench_writeback-{}.yaml", std::process::id())));
    std::fs::write(&out.0, serde_json::to_string_pretty(&doc).unwrap())
        .map_err(|e| format!("{}: {e}", out.0.display()))?;
    Ok(out)
}

struct Hub {
    child: Child,
    url: String,
    dir: PathBuf,
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

/// Rows in `table` of the hub's embedded store.
fn store_count(hub: &Hub, table: &str) -> String {
    let db = rusqlite::Connection::open_with_flags(
        hub.dir.join("store.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the hub's store");
    db.query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or_else(|e| format!("? ({e})"), |n| n.to_string())
}

#[tokio::main]
async fn main() {
    let o = options().unwrap_or_else(|e| {
        eprintln!("{e}\n{USAGE}");
        std::process::exit(2)
    });
    let run = action(&o)
        .and_then(|def| Ok((form_params(&def, &o.form)?, def)))
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    let (form, def) = run;
    let (fields, extra) = result_fields(&def);
    let emu = if o.sinks.iter().any(|s| s == "bigquery") {
        Some(emulator::Emulator::get().await)
    } else {
        None
    };
    hub_core::gcp::install_crypto();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut file_vars: Vec<(&str, String)> = vec![];
    let one = o.actions_file.as_ref().map(|path| {
        one_action_file(path, &def.name).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
    });
    if let Some(one) = &one {
        file_vars.push(("HUB_ACTIONS_FILE", one.0.display().to_string()));
    }

    println!(
        "action `{}` ({}), table `{}`, form {}",
        def.name,
        o.actions_file
            .as_ref()
            .map_or("built-in".into(), |p| p.display().to_string()),
        def.table.name,
        Value::Object(form.clone())
    );
    println!("| sink | rows | seconds | rows/s | hub CPU s | hub CPU µs/row | hub idle RSS MiB | hub peak RSS MiB | rows in table |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for sink in &o.sinks {
        for &n in &o.sizes {
            let ds = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let mut vars = file_vars.clone();
            if let Some(emu) = emu.as_ref().filter(|_| sink == "bigquery") {
                vars.extend(
                    emu.hub_vars(&ds, &emu.grpc)
                        .into_iter()
                        .map(|(k, v)| (k, v.to_string())),
                );
                vars.push(("HUB_BIGQUERY_CREATE_TABLES", "true".into()));
                vars.push(("HUB_BIGQUERY_TIMEOUT_SECS", "60".into()));
            }
            let hub = start_hub(&o.hub_bin, &vars, &client).await;
            let pid = hub.child.id();
            let idle = mem_mib(pid, "VmRSS:");
            let cpu0 = cpu_secs(pid);
            if def.kind == Kind::Cell {
                let secs = cell_writes(&client, &hub, &def, &form, n).await;
                let peak = mem_mib(pid, "VmHWM:");
                let cpu = cpu_secs(pid) - cpu0;
                let stored = stored_rows(emu.as_ref(), sink, &ds, &def, &hub).await;
                print_line(sink, n, secs, cpu, idle, peak, &stored);
                continue;
            }
            let extra = extra.clone();
            let url =
                results::serve_generated(results::RAN_AT, fields.clone(), n, None, move |i| {
                    let mut row = results::result_row(i);
                    for (field, column) in &extra {
                        row[field.as_str()] = json!({"value": typed_value(*column, i)});
                    }
                    row
                })
                .await;
            let body = json!({
                "type": "query",
                "scheduled_plan": {"scheduled_plan_id": 1, "query_id": "bench", "download_url": url},
                "data": {"user_email": "bench@example.com"},
                "form_params": form
            });
            let started = Instant::now();
            let resp = client
                .post(format!("{}/actions/{}/execute", hub.url, def.name))
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
            let stored = stored_rows(emu.as_ref(), sink, &ds, &def, &hub).await;
            print_line(sink, n, secs, cpu, idle, peak, &stored);
        }
    }
}

/// `n` cell executes one after the other, each clicking its own value (one row, one commit
/// each): the seconds they took.
async fn cell_writes(
    client: &reqwest::Client,
    hub: &Hub,
    def: &ActionDef,
    form: &Map<String, Value>,
    n: usize,
) -> f64 {
    let mut form = form.clone();
    // The key field takes the clicked value.
    if let Some(key) = &def.key_field {
        form.remove(key);
    }
    let started = Instant::now();
    for i in 0..n {
        let body = json!({
            "type": "cell",
            "data": {"value": format!("ORD-{i}"), "user_email": "bench@example.com"},
            "form_params": form
        });
        let resp = client
            .post(format!("{}/actions/{}/execute", hub.url, def.name))
            .header("Authorization", "Token token=\"bench-token\"")
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let resp: Value = serde_json::from_str(resp.trim()).unwrap_or(Value::Null);
        assert_eq!(resp["looker"]["success"], true, "{resp}");
    }
    started.elapsed().as_secs_f64()
}

/// The rows `def`'s table holds in `sink`.
async fn stored_rows(
    emu: Option<&emulator::Emulator>,
    sink: &str,
    ds: &str,
    def: &ActionDef,
    hub: &Hub,
) -> String {
    match emu {
        Some(emu) if sink == "bigquery" => {
            let t = format!("`{}.{ds}.{}`", emu.project, def.table.name);
            let r = emu.query(&format!("SELECT COUNT(*) AS n FROM {t}")).await;
            r[0]["n"].as_str().unwrap_or("?").to_string()
        }
        _ => store_count(hub, &def.table.name),
    }
}

fn print_line(sink: &str, n: usize, secs: f64, cpu: f64, idle: f64, peak: f64, stored: &str) {
    println!(
        "| {sink} | {n} | {secs:.2} | {:.0} | {cpu:.2} | {:.2} | {idle:.1} | {peak:.1} | {stored} |",
        n as f64 / secs,
        cpu * 1e6 / n as f64
    );
    std::io::stdout().flush().ok();
}
