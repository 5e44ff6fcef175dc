"""`POST /v1/traces`: the OTLP/HTTP trace receiver (SPEC §9), so OpenTelemetry exporters send usage unchanged.

As the OTLP/HTTP specification has it: `application/x-protobuf` or `application/json` bodies, optionally
gzip-compressed; the answer is an `ExportTraceServiceResponse` in the request's encoding, with
`partial_success` counting the LLM spans that could not be used; failures carry a `google.rpc.Status` (in
JSON it also carries Spendpilot's `error` object). Spans that are not LLM calls are ignored, not rejected.
A 200 is sent only once the rows are stored.
"""

from __future__ import annotations

import asyncio
import zlib

import orjson
from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from spendpilot.analytics.importers.otlp import ExportDecodeError, decode_protobuf, json_spans
from spendpilot.analytics.importers.spans import ExportOutcome, Span, map_export
from spendpilot.api.deps import IngestKey, ServicesDep
from spendpilot.errors import AppError, InvalidInput, error_body, is_outage
from spendpilot.intake.shaped import ShapedErrorRoute
from spendpilot.logs import get_logger

log = get_logger(__name__)

PROTOBUF, JSON = "application/x-protobuf", "application/json"
# gRPC status codes for the HTTP statuses the receiver answers, as OTLP's Status message carries them.
GRPC_CODES = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED,
              413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT, 422: code_pb2.INVALID_ARGUMENT,
              429: code_pb2.RESOURCE_EXHAUSTED, 503: code_pb2.UNAVAILABLE}
# How many rejection reasons partial_success.error_message spells out.
REASONS_SHOWN = 3
# Exports at least this large are decoded on a worker thread, so the event loop keeps serving meanwhile.
THREAD_BYTES = 64 * 1024


def _encoding(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if media == JSON:
        return JSON
    raise AppError("unsupported_media_type", "send application/x-protobuf or application/json", status=415)


def _error_response(request: Request, exc: AppError) -> Response:
    """The OTLP failure answer: a google.rpc.Status in the request's encoding."""
    status = status_pb2.Status(code=GRPC_CODES.get(exc.status, code_pb2.UNKNOWN), message=exc.message)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return Response(status.SerializeToString(), exc.status, headers=exc.headers, media_type=PROTOBUF)
    body = {"code": status.code, "message": exc.message, **error_body(exc.code, exc.message)}
    return Response(orjson.dumps(body), exc.status, headers=exc.headers, media_type=JSON)


class OtlpRoute(ShapedErrorRoute):
    """Answers every failure of the receiver, its key check included, in OTLP's shape; an outage is a 503."""

    def shape(self, request: Request, exc: AppError) -> Response:
        return _error_response(request, exc)

    def unexpected(self, request: Request, exc: Exception) -> Response:
        # The export is not stored; the exporter retries it (and a retry is deduplicated).
        log.warning("otlp_export_failed", outage=is_outage(exc), error=exc)
        failure = AppError("unavailable", "usage could not be stored; retry shortly", status=503,
                           headers={"Retry-After": "2"})
        return _error_response(request, failure)


router = APIRouter(tags=["intake"], route_class=OtlpRoute)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes before or after gzip decompression."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise AppError("too_large", f"export exceeds {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AppError("too_large", f"export exceeds {limit} bytes", status=413)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return gunzip(body, limit)
    if encoding not in ("", "identity"):
        raise AppError("unsupported_media_type", f"Content-Encoding {encoding[:20]!r} is not supported; use gzip",
                       status=415)
    return body


def gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput("invalid_gzip", "the body is not valid gzip", status=400) from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise AppError("too_large", f"export exceeds {limit} bytes once decompressed", status=413)
    if not inflater.eof:
        raise InvalidInput("invalid_gzip", "the gzip body is truncated", status=400)
    return data


def decode_export(body: bytes, encoding: str, org_id: str, key_id: str) -> ExportOutcome:
    """Spans of the export mapped to rows; spans without an identity are refused (a re-send would double them)."""
    broken: list[str] = []
    try:
        if encoding == PROTOBUF:
            spans = decode_protobuf(body)
        else:
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ExportDecodeError(f"the body is not valid JSON: {exc}") from None
            spans, parts = json_spans(doc)
            broken = [reason for _, reason in parts]
    except ExportDecodeError as exc:
        raise InvalidInput("invalid_export", str(exc), status=400) from exc
    identified = [s for s in spans if s.trace_id and s.span_id]
    outcome = map_export(org_id, identified, api_key_id=key_id)
    anonymous = [(s, "span has no valid traceId/spanId") for s in spans if not (s.trace_id and s.span_id)]
    outcome.rejected.extend(anonymous)
    outcome.rejected.extend((Span("", "", "", "", 0, 0, 0, "", {}, {}), reason) for reason in broken)
    return outcome


def _response(encoding: str, outcome: ExportOutcome) -> Response:
    message = ExportTraceServiceResponse()
    if outcome.rejected:
        reasons = [f"{span.name or 'span'}: {reason}" for span, reason in outcome.rejected[:REASONS_SHOWN]]
        more = len(outcome.rejected) - REASONS_SHOWN
        text = "; ".join(reasons) + (f"; and {more} more" if more > 0 else "")
        message.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=len(outcome.rejected),
                                                                   error_message=text[:2000]))
    if encoding == PROTOBUF:
        return Response(message.SerializeToString(), 200, media_type=PROTOBUF)
    return Response(json_format.MessageToJson(message, indent=None), 200, media_type=JSON)


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)")
async def export_traces(request: Request, caller: IngestKey, services: ServicesDep) -> Response:
    encoding = _encoding(request)
    body = await read_body(request, services.settings.intake_max_body_bytes)
    if len(body) >= THREAD_BYTES:
        outcome = await asyncio.to_thread(decode_export, body, encoding, caller.org_id, caller.key_id)
    else:
        outcome = decode_export(body, encoding, caller.org_id, caller.key_id)
    await services.intake.write(outcome.rows, key_id=caller.key_id, source="otlp")
    return _response(encoding, outcome)
