//! `TestHub`: spawns the real hub on 127.0.0.1 with a temp store and plays Looker against it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;

use hub_core::routes::Function;
use hub_core::settings::Settings;
use hub_core::startup::{Application, Hub};
use serde_json::Value;

/// The hub secret the tests configure.
pub const TOKEN: &str = "test-hub-secret-4f1c";

/// What the test hubs may call: this machine, where every stand-in listens.
pub const LOOPBACK: &str = "127.0.0.0/8,::1";

/// A running hub plus what a test needs to talk to it.
pub struct TestHub {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// HTTP client (no proxy, bounded timeouts).
    pub client: reqwest::Client,
    /// Embedded store file.
    pub store_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Settings for a test hub: defaults plus `extra` variables.
pub fn test_vars(
    port: u16,
    store: &std::path::Path,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("PORT", port.to_string()),
        ("HUB_BIND", "127.0.0.1".to_string()),
        ("HUB_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        ("HUB_TOKENS", TOKEN.to_string()),
        ("HUB_STORE_PATH", store.display().to_string()),
        ("HUB_WORKERS", "2".to_string()),
        // Start-up failures are what most start tests look at: no retry unless a test asks.
        ("HUB_STARTUP_RETRY_SECS", "0".to_string()),
        // The stand-ins (data plane, OAuth server, download URLs) listen on 127.0.0.1.
        ("HUB_OUTBOUND_ALLOW", LOOPBACK.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    vars
}

impl TestHub {
    /// The all-in-one hub with default test settings.
    pub async fn spawn() -> TestHub {
        TestHub::spawn_with(&[], Function::ALL).await
    }

    /// A hub with extra settings, serving the given functions.
    pub async fn spawn_with(extra: &[(&str, &str)], functions: &[Function]) -> TestHub {
        TestHub::spawn_custom(extra, functions, |_| {}).await
    }

    /// Like [`TestHub::spawn_with`], with a chance to change the hub's state (e.g. wrap its sink)
    /// before it serves.
    pub async fn spawn_custom(
        extra: &[(&str, &str)],
        functions: &[Function],
        customize: impl FnOnce(&mut Hub),
    ) -> TestHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        TestHub::spawn_on(listener, extra, functions, customize).await
    }

    /// Like [`TestHub::spawn_custom`], on a listener the caller bound (when a setting must name
    /// the hub's address before it starts).
    pub async fn spawn_on(
        listener: TcpListener,
        extra: &[(&str, &str)],
        functions: &[Function],
        customize: impl FnOnce(&mut Hub),
    ) -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        let store_path = dir.path().join("writeback.sqlite");
        let port = listener.local_addr().unwrap().port();
        let vars = test_vars(port, &store_path, extra);
        let settings = Settings::load(&vars, false).expect("test settings");
        let mut hub = Hub::new(settings).await.expect("hub state");
        customize(&mut hub);
        let app = Application::with_hub(hub, listener, functions).expect("app");
        // Stopped with the test's runtime; the test process's signals stay the test runner's.
        tokio::spawn(app.run_until(std::future::pending()));
        TestHub {
            address: format!("http://127.0.0.1:{port}"),
            client: client(),
            store_path,
            _dir: dir,
        }
    }

    /// POST a JSON body with Looker's headers and the hub token.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_with_auth(path, body, Some(&format!("Token token=\"{TOKEN}\"")))
            .await
    }

    /// POST a JSON body with Looker's headers and the given Authorization (or none).
    pub async fn post_with_auth(
        &self,
        path: &str,
        body: &Value,
        auth: Option<&str>,
    ) -> reqwest::Response {
        let mut req =
            looker_headers(self.client.post(format!("{}{path}", self.address))).json(body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send().await.expect("request to the hub")
    }

    /// POST raw bytes with the hub token.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        looker_headers(self.client.post(format!("{}{path}", self.address)))
            .header("Authorization", format!("Token token=\"{TOKEN}\""))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request to the hub")
    }

    /// `POST /` and its JSON.
    pub async fn list(&self) -> Value {
        let r = self.post("/", &serde_json::json!({})).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// `POST /actions/{name}/form` and status + JSON.
    pub async fn form(&self, name: &str, body: &Value) -> (u16, Value) {
        let r = self.post(&format!("/actions/{name}/form"), body).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// `POST /actions/{name}/execute` and status + JSON.
    pub async fn execute(&self, name: &str, body: &Value) -> (u16, Value) {
        let r = self.post(&format!("/actions/{name}/execute"), body).await;
        let status = r.status().as_u16();
        (status, execute_answer(&r.text().await.unwrap()))
    }

    /// Every row of the cell write-back table, as JSON objects.
    pub fn marks(&self) -> Vec<Value> {
        read_table(&self.store_path, "suspicious_marks")
    }
}

/// An execute answer as Looker reads it, checked: `{"looker": {...}}` with a non-empty
/// `looker.message` (what Looker shows the user and keeps in the schedule history) and nothing
/// at the top level besides `looker` (Looker ignores a top-level `message`). Keep-alive newlines
/// before the JSON are allowed.
pub fn execute_answer(text: &str) -> Value {
    let v: Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["looker"],
        "an execute answer has only the `looker` key: {v}"
    );
    assert!(
        v["looker"]["message"]
            .as_str()
            .is_some_and(|m| !m.trim().is_empty()),
        "every execute answer has a non-empty looker.message: {v}"
    );
    assert!(v["looker"]["success"].is_boolean(), "{v}");
    v
}

/// A client builder (reqwest's rustls needs the process's crypto provider installed first).
pub fn client_builder() -> reqwest::ClientBuilder {
    hub_core::gcp::install_crypto();
    reqwest::Client::builder()
}

/// A client for tests: loopback only, bounded time.
pub fn client() -> reqwest::Client {
    client_builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The headers Looker's outgoing webhooks carry.
pub fn looker_headers(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.header("User-Agent", "LookerOutgoingWebhook/25.4.12")
        .header("X-Looker-Instance", "looker-test-instance")
        .header("X-Looker-Webhook-Id", "webhook-123")
        .header(
            "X-Cloud-Trace-Context",
            "105445aa7843bc8bf206b12000100000/1;o=1",
        )
}

/// Read a whole table of the embedded store.
pub fn read_table(path: &std::path::Path, table: &str) -> Vec<Value> {
    let conn = rusqlite::Connection::open(path).expect("open store");
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
        .unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let rows = stmt
        .query_map([], |row| {
            let mut obj = serde_json::Map::new();
            for (i, n) in names.iter().enumerate() {
                let v: rusqlite::types::Value = row.get(i)?;
                let j = match v {
                    rusqlite::types::Value::Null => Value::Null,
                    rusqlite::types::Value::Integer(i) => i.into(),
                    rusqlite::types::Value::Real(f) => f.into(),
                    rusqlite::types::Value::Text(t) => t.into(),
                    rusqlite::types::Value::Blob(_) => Value::String("<blob>".into()),
                };
                obj.insert(n.clone(), j);
            }
            Ok(Value::Object(obj))
        })
        .unwrap();
    rows.map(|r| r.unwrap()).collect()
}

/// A real hub binary running on 127.0.0.1, its stdout and stderr captured in one log file.
pub struct HubProcess {
    /// The process.
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// stdout + stderr of the process.
    pub log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl HubProcess {
    /// Start the hub binary with a cleared environment: test defaults (port, token, store, one
    /// worker) overridden by `env`. A free port can be taken by a parallel test before the binary
    /// binds it: then the binary exits, and another port is tried.
    pub async fn start(env: &[(&str, &str)]) -> HubProcess {
        HubProcess::start_bin("hub", env).await
    }

    /// Like [`HubProcess::start`], for any of the binaries (`actions_list`, …, `hub`).
    pub async fn start_bin(bin: &str, env: &[(&str, &str)]) -> HubProcess {
        use std::process::Stdio;
        let bin = crate::binaries::bin_dir().join(bin);
        assert!(
            bin.exists(),
            "build the binaries first (`cargo build --workspace --bins`, done by scripts/test.sh)"
        );
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("hub.log");
        let http = client();
        for _attempt in 0..5 {
            let port = crate::binaries::free_port();
            let base = format!("http://127.0.0.1:{port}");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut cmd = tokio::process::Command::new(&bin);
            cmd.env_clear()
                .env("PORT", port.to_string())
                .env("HUB_BIND", "127.0.0.1")
                .env("HUB_PUBLIC_URL", &base)
                .env("HUB_TOKENS", TOKEN)
                .env("HUB_STORE_PATH", dir.path().join("s.sqlite"))
                .env("HUB_WORKERS", "1")
                .env("HUB_STARTUP_RETRY_SECS", "0")
                .env("HUB_OUTBOUND_ALLOW", LOOPBACK);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let mut answered = false;
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if http.get(format!("{base}/healthz")).send().await.is_ok() {
                    answered = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if answered && matches!(child.try_wait(), Ok(None)) {
                return HubProcess {
                    child,
                    base,
                    log_path,
                    _dir: dir,
                };
            }
        }
        panic!(
            "the hub binary did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    }

    /// `POST {path}` with the hub token, as Looker calls; the answer's JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        client()
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Token token=\"{TOKEN}\""))
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Send SIGTERM, as Cloud Run does.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit, at most `limit`.
    pub async fn exit_within(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("the hub did not exit within {limit:?}:\n{}", self.logs()),
        }
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The embedded write-back store the process writes.
    pub fn store_path(&self) -> PathBuf {
        self._dir.path().join("s.sqlite")
    }

    /// Wait until the log holds `line` at least `times` times (bounded: 20 s, then the test fails
    /// with the log).
    pub async fn wait_for_log(&self, line: &str, times: usize) {
        for _ in 0..400 {
            if self.logs().matches(line).count() >= times {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the hub never logged {line:?} {times} times:\n{}",
            self.logs()
        )
    }
}

/// The message of a failed, partial or interrupted execute without the run it names at its end
/// (" (run ID)", the id a person looks the run up by); fails when it names none.
pub fn unnamed(message: &str) -> &str {
    let (rest, run) = message
        .rsplit_once(" (run ")
        .unwrap_or_else(|| panic!("the message names no run: {message}"));
    let id = run
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("the message names no run: {message}"));
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "run id {id:?} in {message}"
    );
    rest
}
