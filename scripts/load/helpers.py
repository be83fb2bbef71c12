"""Helpers of scripts/load.sh: a RudderStack data plane, a Looker download_url server and a client
that keeps query executes (rudder_track streaming a download_url) running during the load.

  helpers.py serve PORT_FILE RESULT_FILE   data plane (/v1/batch) + download server, one port
  helpers.py queries HUB_URL PLANE_URL SECONDS CONCURRENCY ROWS   run executes, print a summary
"""
import gzip
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WRITE_KEY = "load-write-key"
events = 0
batches = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    result = b""

    def log_message(self, *args):
        pass

    def do_GET(self):  # the download_url: the result, in 64 KB chunks
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.result)))
        self.end_headers()
        for i in range(0, len(self.result), 65536):
            self.wfile.write(self.result[i:i + 65536])

    def do_POST(self):  # the data plane
        global events, batches
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        n = len(json.loads(body)["batch"])
        with lock:
            events += n
            batches += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def do_PUT(self):  # the counters, for the summary
        data = json.dumps({"events": events, "batches": batches}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def result(rows):
    dims = [{"name": "users.id", "tags": ["user_id"]}, {"name": "users.email", "tags": ["email"]}]
    dims += [{"name": f"users.f{i}", "tags": []} for i in range(2, 10)]
    out = [json.dumps({"ran_at": "2024-05-01T10:00:00+00:00",
                       "fields": {"dimensions": dims, "measures": [], "table_calculations": [],
                                  "pivots": []}})[:-1] + ',"data":[']
    for r in range(rows):
        row = {"users.id": {"value": r}, "users.email": {"value": f"user{r}@example.com"}}
        for i in range(2, 10):
            row[f"users.f{i}"] = {"value": (r * 7 + i) % 1000 if i % 2 else f"text {r} {i}"}
        out.append(("," if r else "") + json.dumps(row, separators=(",", ":")))
    out.append("]}")
    return "".join(out).encode()


def serve(port_file, rows):
    Handler.result = result(int(rows))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(port_file, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


def queries(hub, plane, seconds, concurrency, rows):
    deadline = time.time() + float(seconds)
    stats = {"ok": 0, "failed": 0, "times": []}
    body = json.dumps({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 1, "download_url": plane + "/result"},
        "data": {"rudder_write_key": WRITE_KEY, "rudder_server_url": plane},
        "form_params": {"event": "Load"},
    }).encode()

    def worker():
        while time.time() < deadline:
            req = urllib.request.Request(
                hub + "/actions/rudder_track/execute", data=body, method="POST",
                headers={"Authorization": 'Token token="load-secret"',
                         "Content-Type": "application/json"})
            t0 = time.time()
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    answer = json.loads(r.read().decode().strip())
                ok = answer["looker"]["success"]
            except Exception as e:  # noqa: BLE001 - every failure counts
                print(f"query execute failed: {e}", file=sys.stderr)
                ok = False
            with lock:
                stats["ok" if ok else "failed"] += 1
                stats["times"].append(time.time() - t0)

    threads = [threading.Thread(target=worker) for _ in range(int(concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(stats["times"]) or [0]
    total_rows = stats["ok"] * int(rows)
    print(f"query executes: {stats['ok']} succeeded, {stats['failed']} failed, "
          f"{int(rows)} rows each, median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s, "
          f"{total_rows / float(seconds):,.0f} rows/s delivered")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        queries(*sys.argv[2:])
