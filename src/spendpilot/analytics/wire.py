"""How rows and parameters travel to either ClickHouse engine, so that both see exactly the same bytes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

# Session-level settings both engines get, so the same SQL returns the same JSON:
# 64-bit integers as numbers, not quoted strings; and an alias never shadows a column
# inside another aggregate (`sum(requests) AS requests` next to `sumIf(requests, ...)`).
OUTPUT_SETTINGS = {"output_format_json_quote_64bit_integers": 0, "prefer_column_name_to_alias": 1}
# Rows are serialised with orjson, whose datetimes are RFC 3339 ("...T...Z"); keys that
# are not insert columns (such as a caller-supplied row_key) are ignored.
# One thread per insert: imports parse on another thread at the same time, and batches are small.
INSERT_SETTINGS = {"date_time_input_format": "best_effort", "input_format_skip_unknown_fields": 1,
                   "max_insert_threads": 1, "max_threads": 1}


def arrow_stream(table: Any) -> bytes:
    """A pyarrow Table as Arrow IPC stream bytes (ClickHouse format ArrowStream)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def insert_statement(table: str, columns: list[str]) -> str:
    settings = ", ".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in INSERT_SETTINGS.items())
    cols = ", ".join(f"`{c}`" for c in columns)
    return f"INSERT INTO {table} ({cols}) SETTINGS {settings}"


def encode_rows(rows: list[dict]) -> bytes:
    """Rows as a JSON array, which ClickHouse's JSONEachRow input accepts."""
    return orjson.dumps(rows, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def decode_rows(payload: bytes) -> list[dict]:
    """JSONEachRow output (one object per line) as a list of dicts."""
    return [orjson.loads(line) for line in payload.splitlines() if line]


def bind_value(value: Any) -> Any:
    """Parameter values both drivers format the same way."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def bind_params(params: dict | None) -> dict | None:
    if not params:
        return None
    return {k: bind_value(v) for k, v in params.items()}


def escape_params(params: dict | None) -> dict | None:
    """Parameter values as ClickHouse's server-side parameter text (Escaped format).

    The engine parses a parameter value like a TSV field, so a raw tab, newline or
    backslash would be misread. clickhouse-connect escapes every value this way before
    sending it to a server; chDB gets the very same function, so both engines see
    identical parameter text.
    """
    if not params:
        return None
    from clickhouse_connect.driver.binding import format_bind_value

    return {k: format_bind_value(v, None) for k, v in params.items()}
