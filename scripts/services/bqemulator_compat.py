"""Run `bqemulator` with two fixes (used by scripts/services/bigquery.sh).

Real BigQuery lets an AppendRows request omit `write_stream` (and the writer schema) after the
first request on a connection, and google-cloud-bigquery (Rust) always does so. bqemulator 1.4.0
treats the empty name as a new stream and ends the connection with NOT_FOUND "Stream not found: ",
so every second append fails. The fix keeps the connection's bound stream when the name is empty,
as the real service does.

The emulator's gRPC server runs AppendRows (a synchronous handler) on asyncio's default executor:
min(32, cores + 4) threads, 6 on a 2-core machine, and each open AppendRows connection holds one
for as long as it stays open, waiting for its next request. Real BigQuery keeps thousands of
connections open per project; with 6, a seventh connection (a test's hub keeping a user's write
client, another test's cut connection) waits for a free thread and every later AppendRows and
REST call that needs one stalls until an earlier connection closes (seen as 15-60 s timeouts
across unrelated tests). The server gets its own pool, sized for idle connections, instead;
DuckDB writes stay serialised by the emulator's own write lock. Everything else is the
unmodified emulator.
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import grpc.aio
from bqemulator.cli import main
from bqemulator.grpc_api import write_servicer

# Threads for synchronous gRPC handlers: one per open connection, most of them idle.
GRPC_HANDLER_THREADS = 256

_handler = write_servicer.BigQueryWriteHandler
if not hasattr(_handler, "_ensure_stream_bound"):
    sys.exit("bqemulator_compat: bqemulator changed; _ensure_stream_bound is gone, review the patch")
_original = _handler._ensure_stream_bound


def _ensure_stream_bound(self, stream_name, bound_ctx, context):
    if not stream_name and bound_ctx is not None:
        return bound_ctx
    return _original(self, stream_name, bound_ctx, context)


_handler._ensure_stream_bound = _ensure_stream_bound

_original_server = grpc.aio.server


def _server(*args, **kwargs):
    if not args and kwargs.get("migration_thread_pool") is None:
        kwargs["migration_thread_pool"] = ThreadPoolExecutor(
            max_workers=GRPC_HANDLER_THREADS, thread_name_prefix="grpc-handler"
        )
    return _original_server(*args, **kwargs)


grpc.aio.server = _server

if __name__ == "__main__":
    sys.exit(main())
