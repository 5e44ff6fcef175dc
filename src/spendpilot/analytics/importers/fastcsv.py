"""Generic CSV in large chunks: vectorised with pyarrow when clean, row by row when not."""

# A clean chunk (the common case) is parsed, validated and priced column-wise. Any doubt
# about a chunk -- a value that does not convert, a wrong field count, a rule broken --
# sends that chunk through the row-by-row parser, which names each bad line and its reason.

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..pricing import canonical_provider, vector_price
from ..rows import RowError, normalize_status
from .columns import REQUIRED, canonical_column, generic_row
from .report import ImportFormatError, ImportReport
from .source import CountingReader

CHUNK_BYTES = 32 << 20

INT_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "prompt_prefix_tokens", "requests")
NULLABLE_INT_COLUMNS = ("latency_ms", "max_tokens")
STRING_COLUMNS = (
    "user", "provider", "model", "feature", "status", "prompt_hash", "prompt_prefix_hash", "is_batch", "ts"
)
KNOWN = set(INT_COLUMNS) | set(NULLABLE_INT_COLUMNS) | set(STRING_COLUMNS) | {"cost_usd"}
TRUE = ["1", "true", "t", "yes", "y", "batch"]
FALSE = ["0", "false", "f", "no", "n", ""]
UINT32_MAX = 2**32 - 1


class _Dirty(Exception):
    """The chunk needs the row-by-row path."""


def _row_boundary(buf: bytes) -> int:
    """Index of the last newline that is not inside a quoted field, or -1."""
    pos = buf.rfind(b"\n")
    if b'"' not in buf:
        return pos
    while pos != -1:
        quotes_after = buf.count(b'"', pos)
        if (buf.count(b'"') - quotes_after) % 2 == 0:
            return pos
        pos = buf.rfind(b"\n", 0, pos)
    return -1


def csv_batches(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[pa.Table | list[dict]]:
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    header_line = buffered.readline()
    if header_line.startswith(b"\xef\xbb\xbf"):
        header_line = header_line[3:]
    try:
        header = next(csv.reader([header_line.decode("utf-8", errors="replace")]), [])
    except csv.Error as exc:  # e.g. a lone carriage return inside the first line
        raise ImportFormatError(f"the header is not readable CSV: {exc}") from None
    if not header:
        raise ImportFormatError("the file is empty")
    columns = [canonical_column(h) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ImportFormatError(
            f"CSV header lacks required column(s) {', '.join(missing)}; found: {', '.join(header)[:300]}"
        )
    line = 1  # lines consumed so far
    pending = b""
    while True:
        data = buffered.read(CHUNK_BYTES)
        buf = pending + data
        if data:
            cut = _row_boundary(buf)
            if cut < 0:
                pending = buf
                continue
            chunk, pending = buf[: cut + 1], buf[cut + 1 :]
        else:
            chunk, pending = buf, b""
        if chunk and not chunk.isspace():
            yield convert_chunk(chunk, line + 1, columns, org_id, report)
        line += chunk.count(b"\n")
        if not data:
            return


def convert_chunk(
    chunk: bytes, first_line: int, columns: list[str], org_id: str, report: ImportReport
) -> pa.Table | list[dict]:
    try:
        return _fast(chunk, columns, org_id, report)
    except (_Dirty, pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OverflowError):
        return _slow(chunk, first_line, columns, org_id, report)


def _slow(chunk: bytes, first_line: int, columns: list[str], org_id: str, report: ImportReport) -> list[dict]:
    rows = []
    width = len(columns)
    reader = csv.reader(io.StringIO(chunk.decode("utf-8", errors="replace"), newline=""))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.reject(first_line - 1 + reader.line_num, f"malformed CSV: {exc}")
            continue
        line = first_line - 1 + reader.line_num
        if len(fields) != width:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            report.reject(line, f"expected {width} fields, found {len(fields)}")
            continue
        try:
            row = generic_row(org_id, dict(zip(columns, fields, strict=True)))
        except RowError as exc:
            report.reject(line, str(exc))
            continue
        rows.append(row)
    return rows


def _vector_ts(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 text as UTC milliseconds (truncated, like the row path); naive means UTC."""
    try:
        ts = pc.cast(col, pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:
            ts = pc.assume_timezone(pc.cast(col, pa.timestamp("ns")), "UTC")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _Dirty() from None
    if ts.null_count:
        raise _Dirty()
    return pc.cast(ts, pa.timestamp("ms", tz="UTC"), safe=False)


def _ints(tbl: pa.Table, name: str, n: int, default: int) -> np.ndarray:
    if name not in tbl.column_names:
        return np.full(n, default, dtype=np.int64)
    arr = pc.fill_null(tbl.column(name), default).to_numpy()
    if len(arr) and arr.min() < 0:
        raise _Dirty()
    return arr


def _nullable_uint32(tbl: pa.Table, name: str, n: int) -> pa.Array:
    if name not in tbl.column_names:
        return pa.nulls(n, pa.uint32())
    col = tbl.column(name)
    if col.null_count < n and (pc.min(col).as_py() < 0 or pc.max(col).as_py() > UINT32_MAX):
        raise _Dirty()
    return pc.cast(col, pa.uint32())


def _strings(tbl: pa.Table, name: str, n: int) -> pa.ChunkedArray | pa.Array:
    if name not in tbl.column_names:
        return pa.repeat(pa.scalar("", pa.string()), n)
    return tbl.column(name)


def _flat(col):
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _map_values(col, fn) -> pa.Array:
    """Apply a Python function to each distinct value of a low-cardinality string column."""
    encoded = _flat(pc.dictionary_encode(col))
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return mapped.take(encoded.indices)


def _fast(chunk: bytes, columns: list[str], org_id: str, report: ImportReport) -> pa.Table:
    names = [c if c not in columns[:i] else f"{c}__dup{i}" for i, c in enumerate(columns)]
    types = {c: pa.int64() for c in INT_COLUMNS + NULLABLE_INT_COLUMNS}
    types.update({c: pa.string() for c in STRING_COLUMNS})
    types["cost_usd"] = pa.float64()
    tbl = pacsv.read_csv(
        io.BytesIO(chunk),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: t for c, t in types.items() if c in names},
            include_columns=[c for c in names if c in KNOWN],
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    n = tbl.num_rows
    ts = _vector_ts(tbl.column("ts"))
    model = pc.utf8_trim_whitespace(tbl.column("model"))
    if pc.any(pc.equal(model, "")).as_py():
        raise _Dirty()
    inp = _ints(tbl, "input_tokens", n, 0)
    out = _ints(tbl, "output_tokens", n, 0)
    cached = _ints(tbl, "cached_input_tokens", n, 0)
    prefix_tokens = _ints(tbl, "prompt_prefix_tokens", n, 0)
    requests = _ints(tbl, "requests", n, 1)
    if (cached > inp).any() or (prefix_tokens > UINT32_MAX).any() or (requests > UINT32_MAX).any():
        raise _Dirty()

    batch_text = pc.utf8_lower(pc.utf8_trim_whitespace(_strings(tbl, "is_batch", n)))
    is_true = pc.is_in(batch_text, pa.array(TRUE))
    if not pc.all(pc.or_(is_true, pc.is_in(batch_text, pa.array(FALSE)))).as_py():
        raise _Dirty()
    is_batch = is_true.to_numpy(zero_copy_only=False).astype(np.uint8)

    # One pass over the distinct (provider as written, model) pairs gives both the
    # canonical provider and the price of every row that came without a cost.
    pairs = _flat(pc.dictionary_encode(pc.binary_join_element_wise(_strings(tbl, "provider", n), model, "\x1f")))
    codes = pairs.indices.to_numpy(zero_copy_only=False)
    canonical = []
    for pair in pairs.dictionary.to_pylist():
        raw_provider, mdl = pair.split("\x1f", 1)
        canonical.append(canonical_provider(raw_provider, mdl) or "unknown")
    provider = pa.array(canonical, pa.string()).take(pairs.indices)

    if "cost_usd" in tbl.column_names:
        cost_col = tbl.column("cost_usd")
        if cost_col.null_count < n and (pc.min(cost_col).as_py() < 0 or pc.any(pc.is_nan(cost_col)).as_py()
                                        or pc.any(pc.is_inf(cost_col)).as_py()):
            raise _Dirty()
        cost = pc.fill_null(cost_col, np.nan).to_numpy().copy()
    else:
        cost = np.full(n, np.nan)
    priced = np.ones(n, dtype=np.uint8)
    need = np.isnan(cost)
    if need.any():
        for code in np.unique(codes[need]).tolist():
            mask = need & (codes == code)
            mdl = pairs.dictionary[code].as_py().split("\x1f", 1)[1]
            usd = vector_price(canonical[code], mdl, inp[mask], out[mask], cached[mask], is_batch[mask], requests[mask])
            if usd is None:
                cost[mask] = 0.0
                priced[mask] = 0
                report.unpriced_models.add(mdl)
            else:
                cost[mask] = usd

    return pa.table(
        {
            "ts": ts,
            "org_id": pa.repeat(pa.scalar(org_id, pa.string()), n),
            "user": _strings(tbl, "user", n),
            "provider": provider,
            "model": model,
            "feature": _strings(tbl, "feature", n),
            "input_tokens": pa.array(inp, pa.uint64()),
            "output_tokens": pa.array(out, pa.uint64()),
            "cached_input_tokens": pa.array(cached, pa.uint64()),
            "latency_ms": _nullable_uint32(tbl, "latency_ms", n),
            "status": _map_values(_strings(tbl, "status", n), normalize_status),
            "is_batch": pa.array(is_batch, pa.uint8()),
            "prompt_hash": _strings(tbl, "prompt_hash", n),
            "prompt_prefix_hash": _strings(tbl, "prompt_prefix_hash", n),
            "prompt_prefix_tokens": pa.array(prefix_tokens, pa.uint32()),
            "max_tokens": _nullable_uint32(tbl, "max_tokens", n),
            "cost_usd": pa.array(cost, pa.float64()),
            "requests": pa.array(requests, pa.uint32()),
            "priced": pa.array(priced, pa.uint8()),
        }
    )
