"""Real log lines of the hub, for scripts/monitoring_check.py: the per-function binaries run on
127.0.0.1 with JSON logs (as Cloud Run runs them), execute successes, invalid input, failures and a
partial write with a rejected row, fail a Secret Manager refresh, fail BigQuery appends (its
endpoints point at a closed port) and refuse to start.
Each line becomes the Cloud Logging entry Cloud Run makes of it (`entry()`).

Stand-ins here: a Secret Manager (the documented REST shape: GET /v1/NAME:access) and a closed
port. Everything the hub answers or writes is its own.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

TOKEN = "monitoring-check-token"
SM_TOKEN = "sm-access-token"
SECRET = "projects/acme/secrets/hub-token/versions/latest"
DENIED = "projects/acme/secrets/denied/versions/latest"
PROJECT = "acme-looker-hub"
REGION = "europe-west1"
# Fields Cloud Logging lifts out of a JSON line into the entry (the rest is jsonPayload).
SPECIAL = {"severity", "time", "timestamp", "httpRequest", "labels", "insertId", "operation", "sourceLocation",
           "spanId", "trace", "traceSampled"}


def entry(service: str, stream: str, line: str) -> dict:
    """The LogEntry Cloud Run writes for one line of `stream` (stdout / stderr) of `service`."""
    e = {
        "resource": {"type": "cloud_run_revision", "labels": {
            "service_name": service, "revision_name": f"{service}-00001-abc", "location": REGION,
            "configuration_name": service, "project_id": PROJECT}},
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2F{stream}",
        "severity": "DEFAULT",
    }
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        e["severity"] = obj.get("severity", "DEFAULT")
        e["jsonPayload"] = {k: v for k, v in obj.items()
                            if k not in SPECIAL and not k.startswith("logging.googleapis.com/")}
    else:
        e["textPayload"] = line
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SecretManager(http.server.ThreadingHTTPServer):
    """Answers SECRET until `fail()`, then 403 for it; DENIED always 403."""

    def __init__(self):
        self.failing = False
        self.requests = 0
        super().__init__(("127.0.0.1", 0), SecretManagerHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class SecretManagerHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server name
        sm: SecretManager = self.server  # type: ignore[assignment]
        sm.requests += 1
        name = self.path.split("?")[0].removeprefix("/v1/").removesuffix(":access")
        ok = self.headers.get("Authorization") == f"Bearer {SM_TOKEN}" and name == SECRET and not sm.failing
        if ok:
            body = {"name": name, "payload": {"data": base64.b64encode(TOKEN.encode()).decode()}}
            self.answer(200, body)
        else:
            self.answer(403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                        "message": f"Permission 'secretmanager.versions.access' denied for resource '{name}'"}})

    def answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Hub:
    """One binary on a free port with JSON logs; `stop()` returns its (stdout, stderr) text."""

    def __init__(self, binary: Path, env: dict[str, str]):
        self.dir = tempfile.TemporaryDirectory(prefix="monitoring-lines-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        base_env = {
            "PATH": os.environ.get("PATH", ""), "PORT": str(self.port), "HUB_BIND": "127.0.0.1",
            "HUB_PUBLIC_URL": self.base, "HUB_LOG_FORMAT": "json", "RUST_LOG": "info",
            "GOOGLE_CLOUD_PROJECT": PROJECT, "HUB_STORE_PATH": str(Path(self.dir.name, "s.sqlite")),
            "HUB_WORKERS": "1", "HUB_STARTUP_RETRY_SECS": "0", "HUB_OUTBOUND_ALLOW": "127.0.0.0/8,::1",
        }
        self.out = open(Path(self.dir.name, "stdout"), "w+")
        self.err = open(Path(self.dir.name, "stderr"), "w+")
        self.proc = subprocess.Popen([str(binary)], env={**base_env, **env}, stdout=self.out, stderr=self.err)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited at start: {self.text()[1]}")
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=2).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the hub did not answer /healthz within 30 s")

    def get(self, path: str) -> tuple[int, str]:
        """GET without a token: (status, body)."""
        try:
            with urllib.request.urlopen(f"{self.base}{path}", timeout=10) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def execute(self, action: str, body: dict) -> None:
        req = urllib.request.Request(f"{self.base}/actions/{action}/execute", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json",
                                              "authorization": f'Token token="{TOKEN}"'})
        try:
            urllib.request.urlopen(req, timeout=60).read()
        except urllib.error.HTTPError as e:
            e.read()

    def wait_for(self, text: str, secs: float) -> bool:
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            if text in self.text()[0]:
                return True
            time.sleep(0.2)
        return False

    def text(self) -> tuple[str, str]:
        self.out.flush()
        self.err.flush()
        return Path(self.out.name).read_text(), Path(self.err.name).read_text()

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out = self.text()
        self.out.close()
        self.err.close()
        self.dir.cleanup()
        return out


def cell(order_id: str, classification: str) -> dict:
    return {"type": "cell", "data": {"value": order_id, "user_email": "analyst@example.com"},
            "form_params": {"id": order_id, "classification": classification, "comment": ""}}


def result_row(i: int, order_id) -> dict:
    return {"orders.created": {"value": "2026-01-02"}, "orders.id": {"value": order_id},
            "users.email": {"value": f"u{i}@example.com"}, "orders.total": {"value": i * 1.5}}


def pushed_batch(rows: list[dict]) -> dict:
    dims = [{"name": "orders.created", "label": "Created", "tags": []},
            {"name": "orders.id", "label": "Order ID", "tags": ["mark-suspicious"]},
            {"name": "users.email", "label": "Email", "tags": ["email"]}]
    doc = {"ran_at": "2026-11-23T10:00:00+00:00",
           "fields": {"dimensions": dims, "measures": [{"name": "orders.total", "label": "Total", "tags": []}],
                      "table_calculations": [], "pivots": []},
           "data": rows}
    return {"type": "query", "scheduled_plan": {"scheduled_plan_id": 77, "query_id": 42},
            "attachment": {"mimetype": "application/json", "extension": "json", "data": json.dumps(doc)},
            "data": {"user_email": "analyst@example.com"},
            "form_params": {"classification": "Approved", "comment": "batch review"}}


def embedded_store_run(bin_dir: Path, sm: SecretManager, closed: int, health_paths: list[str]) -> tuple[list[tuple[str, str, str]], dict[str, tuple[int, str]]]:
    """action_execute on the embedded store, its token a Secret Manager reference that fails to
    refresh: executes that succeed, are invalid, fail their download and reject rows."""
    hub = Hub(bin_dir / "action_execute", {
        "HUB_TOKENS": SECRET, "HUB_SECRET_MANAGER_ENDPOINT": sm.url, "HUB_GCP_ACCESS_TOKEN": SM_TOKEN,
        "HUB_SECRET_MANAGER_TIMEOUT_SECS": "3", "HUB_SECRETS_REFRESH_SECS": "1"})
    try:
        hub.wait_ready()
        answers = {p: hub.get(p) for p in health_paths}
        hub.execute("mark_suspicious", cell("ORD-1", "Approved"))
        hub.execute("mark_suspicious", cell("ORD-2", "Fraud"))
        hub.execute("writeback_batch", {
            "type": "query", "data": {"user_email": "analyst@example.com"},
            "scheduled_plan": {"scheduled_plan_id": 78, "query_id": "q-1", "download_url": f"http://127.0.0.1:{closed}/result"},
            "form_params": {"classification": "Approved", "comment": ""}})
        hub.execute("writeback_batch", pushed_batch([result_row(0, 1000), result_row(1, None), result_row(2, 1002)]))
        sm.failing = True
        hub.wait_for("secret refresh failed", 15)
    finally:
        out, err = hub.stop()
    return [("action_execute", "stdout", ln) for ln in out.splitlines()] + \
        [("action_execute", "stderr", ln) for ln in err.splitlines()], answers


# A declared query action whose typed column rejects a row that does not fit it.
ACTIONS_FILE = """version: 1
actions:
  - name: reorder_stock
    label: Reorder stock
    success_message: "Reordered {count} {rows}."
    kind: query
    required_fields:
      - tag: product-id
    key_tag: product-id
    table:
      name: stock_reorders
    fields:
      - {name: quantity, label: Quantity, value: integer, required: true}
    result_columns:
      - {field: products.id, column: product_id, type: INT64, required: true}
"""


def declared_run(bin_dir: Path) -> list[tuple[str, str, str]]:
    """action_execute serving a declared action: one execute whose second row is rejected."""
    with tempfile.TemporaryDirectory(prefix="monitoring-actions-") as d:
        Path(d, "actions.yaml").write_text(ACTIONS_FILE)
        hub = Hub(bin_dir / "action_execute", {"HUB_TOKENS": TOKEN, "HUB_ACTIONS_FILE": str(Path(d, "actions.yaml"))})
        try:
            hub.wait_ready()
            dims = [{"name": "products.id", "label": "Product", "tags": ["product-id"]}]
            doc = {"fields": {"dimensions": dims, "measures": [], "table_calculations": [], "pivots": []},
                   "data": [{"products.id": {"value": 1}}, {"products.id": {"value": "not a number"}}]}
            hub.execute("reorder_stock", {
                "type": "query", "scheduled_plan": {"scheduled_plan_id": 79, "query_id": 43},
                "attachment": {"mimetype": "application/json", "extension": "json", "data": json.dumps(doc)},
                "data": {"user_email": "analyst@example.com"}, "form_params": {"quantity": "5"}})
        finally:
            out, err = hub.stop()
    return [("action_execute", "stdout", ln) for ln in out.splitlines()] + \
        [("action_execute", "stderr", ln) for ln in err.splitlines()]


def bigquery_down_run(bin_dir: Path, closed: int) -> list[tuple[str, str, str]]:
    """action_execute writing to BigQuery whose endpoints do not answer: appends fail."""
    hub = Hub(bin_dir / "action_execute", {
        "HUB_TOKENS": TOKEN, "HUB_GCP_PROJECT": PROJECT, "HUB_BIGQUERY_DATASET": "looker_writeback",
        "HUB_BIGQUERY_ENDPOINT": f"http://127.0.0.1:{closed}", "HUB_BIGQUERY_STORAGE_ENDPOINT": f"http://127.0.0.1:{closed}",
        "HUB_GCP_ACCESS_TOKEN": "bq-token", "HUB_BIGQUERY_CREATE_TABLES": "false", "HUB_BIGQUERY_TIMEOUT_SECS": "3"})
    try:
        hub.wait_ready()
        hub.execute("mark_suspicious", cell("ORD-3", "Approved"))
    finally:
        out, err = hub.stop()
    return [("action_execute", "stdout", ln) for ln in out.splitlines()] + \
        [("action_execute", "stderr", ln) for ln in err.splitlines()]


def start_failure_runs(bin_dir: Path, sm: SecretManager) -> list[tuple[str, str, str]]:
    """actions_list refusing to start: a setting it cannot read, and a secret it may not read."""
    lines = []
    for env in ({"HUB_TOKENS": TOKEN, "HUB_WORKERS": "many"},
                {"HUB_TOKENS": DENIED, "HUB_SECRET_MANAGER_ENDPOINT": sm.url, "HUB_GCP_ACCESS_TOKEN": SM_TOKEN}):
        hub = Hub(bin_dir / "actions_list", env)
        try:
            hub.proc.wait(timeout=30)
        finally:
            out, err = hub.stop()
        lines += [("actions_list", "stdout", ln) for ln in out.splitlines()]
        lines += [("actions_list", "stderr", ln) for ln in err.splitlines()]
    return lines


def hub_entries(bin_dir: Path, name_prefix: str, health_paths: list[str]) -> tuple[list[dict], dict[str, tuple[int, str]]]:
    """The log entries of all runs (each attributed to its function's Cloud Run service) and the
    answer (status, body) each of `health_paths` got from the running execute binary (no token)."""
    sm = SecretManager()
    with socket.socket() as closed_sock:
        # Bound, never listening: connections to it are refused at once.
        closed_sock.bind(("127.0.0.1", 0))
        closed = closed_sock.getsockname()[1]
        try:
            lines, answers = embedded_store_run(bin_dir, sm, closed, health_paths)
            lines += declared_run(bin_dir)
            lines += bigquery_down_run(bin_dir, closed)
            lines += start_failure_runs(bin_dir, sm)
        finally:
            sm.shutdown()
    service = {f: f"{name_prefix}-{f.replace('_', '-')}" for f in ("action_execute", "actions_list")}
    return [entry(service[f], stream, ln) for f, stream, ln in lines if ln.strip()], answers
