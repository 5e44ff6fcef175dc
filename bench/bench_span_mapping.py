"""CPU per span of the OTLP receiver's decode and mapping, in process (no server, no store).

    .venv/bin/python bench/bench_span_mapping.py --spans 1000 --exports 20
    .venv/bin/python bench/bench_span_mapping.py --profile   # cProfile of the same loop, top functions

Builds protobuf exports the way bench_intake.py does (its span builder, fresh ids per export), then times
`receiver.decode_export` on them and, separately, the parse (`FromString`), the spans (`proto_spans`), the
mapping (`map_export`) and the store's JSON encoding of the rows. Figures are CPU time (time.process_time)
per span, best of `--repeat`, so a busy machine distorts them little.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from bench.bench_intake import exports  # noqa: E402
from spendpilot.analytics.importers.otlp import proto_spans  # noqa: E402
from spendpilot.analytics.importers.spans import map_export  # noqa: E402
from spendpilot.analytics.wire import encode_rows  # noqa: E402
from spendpilot.intake.receiver import PROTOBUF, decode_export  # noqa: E402


def cpu_us_per_span(step: Callable[[], object], spans: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=1000, help="spans per export")
    parser.add_argument("--exports", type=int, default=20, help="exports per timed round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the fastest counts")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of decode_export instead")
    args = parser.parse_args()
    source = exports(args.spans)
    bodies = [next(source) for _ in range(args.exports)]
    total = args.spans * args.exports

    def decode_all() -> None:
        for body in bodies:
            decode_export(body, PROTOBUF, "org-bench", "key-bench")

    decode_all()  # warm caches (price lookups, imports) as a running server has them
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(decode_all)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    requests = [ExportTraceServiceRequest.FromString(body) for body in bodies]
    span_lists = [proto_spans(request) for request in requests]
    row_lists = [map_export("org-bench", spans, api_key_id="key-bench").rows for spans in span_lists]
    steps = {
        "parse (FromString)": lambda: [ExportTraceServiceRequest.FromString(body) for body in bodies],
        "spans (proto_spans)": lambda: [proto_spans(request) for request in requests],
        "mapping (map_export)": lambda: [map_export("org-bench", spans, api_key_id="key-bench")
                                         for spans in span_lists],
        "JSON for the engine (encode_rows)": lambda: [encode_rows(rows) for rows in row_lists],
        "decode_export (parse + spans + mapping)": decode_all,
    }
    print(f"{args.exports} exports of {args.spans} spans, best of {args.repeat}; CPU us per span:")
    for name, step in steps.items():
        print(f"  {name:42s} {cpu_us_per_span(step, total, args.repeat):6.1f}")


if __name__ == "__main__":
    main()
