"""Run `bqemulator` with one wire-compatibility fix (used by scripts/services/bigquery.sh).

Real BigQuery lets an AppendRows request omit `write_stream` (and the writer schema) after the
first request on a connection, and google-cloud-bigquery (Rust) always does so. bqemulator 1.4.0
treats the empty name as a new stream and ends the connection with NOT_FOUND "Stream not found: ",
so every second append fails. The fix keeps the connection's bound stream when the name is empty,
as the real service does. Everything else is the unmodified emulator.
"""

import sys

from bqemulator.cli import main
from bqemulator.grpc_api import write_servicer

_handler = write_servicer.BigQueryWriteHandler
if not hasattr(_handler, "_ensure_stream_bound"):
    sys.exit("bqemulator_compat: bqemulator changed; _ensure_stream_bound is gone, review the patch")
_original = _handler._ensure_stream_bound


def _ensure_stream_bound(self, stream_name, bound_ctx, context):
    if not stream_name and bound_ctx is not None:
        return bound_ctx
    return _original(self, stream_name, bound_ctx, context)


_handler._ensure_stream_bound = _ensure_stream_bound

if __name__ == "__main__":
    sys.exit(main())
