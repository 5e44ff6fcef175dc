"""Generic CSV in large chunks: vectorised with pyarrow when clean, row by row when not."""

# A clean chunk (the common case) is parsed, validated and priced column-wise. Any doubt
# about a chunk -- a value that does not convert, a wrong field count, a rule broken --
# sends that chunk through the row-by-row parser, which names each bad line and its reason.

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..pricing import canonical_name, lookup, vector_price
from ..rows import RowError, normalize_status
from .columns import KNOWN, canonical_column, check_columns, decimal_commas, generic_row
from .report import ImportFormatError, ImportReport
from .source import CountingReader

# 4 MB chunks (about 29,000 demo rows): memory stays flat whatever the file's size (a chunk's parse
# buffers and the engine's insert pipelines grow with it), and each batch is still large enough that
# the engine's per-statement cost is small beside its per-row cost.
CHUNK_BYTES = 4 << 20

INT_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "prompt_prefix_tokens",
               "requests")
NULLABLE_INT_COLUMNS = ("latency_ms", "max_tokens")
STRING_COLUMNS = (
    "user", "provider", "model", "feature", "status", "prompt_hash", "prompt_prefix_hash", "is_batch", "ts",
    "service_tier", "source_id", "api_key_id",
)
EPOCH = date(1970, 1, 1)
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


def csv_batches(raw: CountingReader, org_id: str, report: ImportReport,
                delimiter: str = ",") -> Iterator[pa.Table | list[dict]]:
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    header_line = buffered.readline()
    if header_line.startswith(b"\xef\xbb\xbf"):
        header_line = header_line[3:]
    try:
        header = next(csv.reader([header_line.decode("utf-8", errors="replace")], delimiter=delimiter), [])
    except csv.Error as exc:  # e.g. a lone carriage return inside the first line
        raise ImportFormatError(f"the header is not readable CSV: {exc}") from None
    if not header:
        raise ImportFormatError("the file is empty")
    columns = [canonical_column(h) for h in header]
    check_columns(header, columns, [])
    shape = _Shape(columns, delimiter)
    line = 1  # lines consumed so far
    pending = b""
    while True:
        data = buffered.read(CHUNK_BYTES)
        buf = pending + data if pending else data
        if data:
            cut = _row_boundary(buf)
            if cut < 0:
                pending = buf
                continue
            chunk, pending = buf[: cut + 1], buf[cut + 1 :]
        else:
            chunk, pending = buf, b""
        del buf
        if chunk and not chunk.isspace():
            yield convert_chunk(chunk, line + 1, shape, org_id, report)
            # Hand the chunk's buffers back: the allocator would otherwise keep each chunk's peak.
            pa.default_memory_pool().release_unused()
        line += chunk.count(b"\n")
        if not data:
            return


class _Shape:
    """A file's columns and separators, as both parsing paths need them."""

    def __init__(self, columns: list[str], delimiter: str) -> None:
        self.columns = columns
        self.delimiter = delimiter
        # In a `;`-delimited file the comma is the decimal mark (0,569788).
        self.decimal_comma = delimiter == ";"


def convert_chunk(
    chunk: bytes, first_line: int, shape: _Shape, org_id: str, report: ImportReport
) -> pa.Table | list[dict]:
    try:
        return _fast(chunk, shape, org_id, report)
    except (_Dirty, pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OverflowError):
        return _slow(chunk, first_line, shape, org_id, report)


def _slow(chunk: bytes, first_line: int, shape: _Shape, org_id: str, report: ImportReport) -> list[dict]:
    rows = []
    columns = shape.columns
    width = len(columns)
    reader = csv.reader(io.StringIO(chunk.decode("utf-8", errors="replace"), newline=""), delimiter=shape.delimiter)
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
        if shape.decimal_comma:
            fields = decimal_commas(fields)
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


def _fast(chunk: bytes, shape: _Shape, org_id: str, report: ImportReport) -> pa.Table:
    columns = shape.columns
    names = [c if c not in columns[:i] else f"{c}__dup{i}" for i, c in enumerate(columns)]
    types = {c: pa.int64() for c in INT_COLUMNS + NULLABLE_INT_COLUMNS}
    types.update({c: pa.string() for c in STRING_COLUMNS})
    types["cost_usd"] = pa.float64()
    tbl = pacsv.read_csv(
        io.BytesIO(chunk),
        # One parsing thread: the engine works on the other core, and every thread keeps its own arena.
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=shape.delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: t for c, t in types.items() if c in names},
            include_columns=[c for c in names if c in KNOWN],
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            decimal_point="," if shape.decimal_comma else ".",
        ),
    )
    n = tbl.num_rows
    ts = _vector_ts(tbl.column("ts"))
    model = pc.utf8_trim_whitespace(tbl.column("model"))
    if pc.any(pc.equal(model, "")).as_py():
        raise _Dirty()
    for name in ("service_tier", "source_id"):
        # Tiers other than standard are priced row by row; so are ids that need checking.
        if name in tbl.column_names and pc.any(pc.not_equal(tbl.column(name), "")).as_py():
            raise _Dirty()
    inp = _ints(tbl, "input_tokens", n, 0)
    out = _ints(tbl, "output_tokens", n, 0)
    cached = _ints(tbl, "cached_input_tokens", n, 0)
    written = _ints(tbl, "cache_write_tokens", n, 0)
    prefix_tokens = _ints(tbl, "prompt_prefix_tokens", n, 0)
    requests = _ints(tbl, "requests", n, 1)
    if ((cached + written) > inp).any() or (prefix_tokens > UINT32_MAX).any() or (requests > UINT32_MAX).any():
        raise _Dirty()

    batch_text = pc.utf8_lower(pc.utf8_trim_whitespace(_strings(tbl, "is_batch", n)))
    is_true = pc.is_in(batch_text, pa.array(TRUE))
    if not pc.all(pc.or_(is_true, pc.is_in(batch_text, pa.array(FALSE)))).as_py():
        raise _Dirty()
    is_batch = is_true.to_numpy(zero_copy_only=False).astype(np.uint8)

    # One pass over the distinct (provider as written, model) pairs gives the canonical provider
    # and model (gateway prefixes moved to the provider) and the price of every row.
    pairs = _flat(pc.dictionary_encode(pc.binary_join_element_wise(_strings(tbl, "provider", n), model, "\x1f")))
    codes = pairs.indices.to_numpy(zero_copy_only=False)
    canonical = [canonical_name(*pair.split("\x1f", 1)) for pair in pairs.dictionary.to_pylist()]
    provider = pa.array([p or "unknown" for p, _ in canonical], pa.string()).take(pairs.indices)
    model = pa.array([m for _, m in canonical], pa.string()).take(pairs.indices)

    if "cost_usd" in tbl.column_names:
        cost_col = tbl.column("cost_usd")
        if cost_col.null_count < n and (pc.min(cost_col).as_py() < 0 or pc.any(pc.is_nan(cost_col)).as_py()
                                        or pc.any(pc.is_inf(cost_col)).as_py()):
            raise _Dirty()
        stated = pc.fill_null(cost_col, np.nan).to_numpy().copy()
    else:
        stated = np.full(n, np.nan)
    cost = np.zeros(n)
    priced = np.ones(n, dtype=np.uint8)
    days = ts.cast(pa.int64()).to_numpy() // 86_400_000
    for code in np.unique(codes).tolist():
        mask = codes == code
        prov, mdl = canonical[code]
        found = lookup(prov, mdl)
        if found is None:
            has = mask & ~np.isnan(stated)
            cost[has] = stated[has]
            priced[mask & np.isnan(stated)] = 0
            if (mask & np.isnan(stated)).any():
                report.unpriced_models.add(mdl)
            continue
        if found.varies_by_time_of_day:
            raise _Dirty()
        # Rows of one model on either side of a price change are priced separately.
        changes = np.array([(d - EPOCH).days for d in found.change_dates()], dtype=np.int64)
        regime = np.searchsorted(changes, days, side="right")
        for part in np.unique(regime[mask]).tolist():
            rows = mask & (regime == part)
            when = datetime.fromtimestamp(int(days[rows][0]) * 86_400, tz=UTC)
            cost[rows] = vector_price(prov, mdl, inp[rows], out[rows], cached[rows], is_batch[rows], requests[rows],
                                      when=when, cache_write_tokens=written[rows])
        has = mask & ~np.isnan(stated)
        if has.any():
            report.add_stated(mdl, float(stated[has].sum()), float(cost[has].sum()), int(has.sum()))

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
            "cache_write_tokens": pa.array(written, pa.uint64()),
            "latency_ms": _nullable_uint32(tbl, "latency_ms", n),
            "status": _map_values(_strings(tbl, "status", n), normalize_status),
            "is_batch": pa.array(is_batch, pa.uint8()),
            "prompt_hash": _strings(tbl, "prompt_hash", n),
            "prompt_prefix_hash": _strings(tbl, "prompt_prefix_hash", n),
            "prompt_prefix_tokens": pa.array(prefix_tokens, pa.uint32()),
            "max_tokens": _nullable_uint32(tbl, "max_tokens", n),
            "cost_usd": pa.array(cost, pa.float64()),
            "stated_cost_usd": pa.array(stated, pa.float64(), from_pandas=True),
            "requests": pa.array(requests, pa.uint32()),
            "priced": pa.array(priced, pa.uint8()),
            "api_key_id": _strings(tbl, "api_key_id", n),
        }
    )
