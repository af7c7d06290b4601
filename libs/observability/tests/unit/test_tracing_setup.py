"""Turning tracing on and off with the standard OTEL_* variables, in fresh processes (the SDK is
set up once per process): off by default with nothing of the SDK imported; on with
`OTEL_TRACES_EXPORTER=otlp`, an app's request span reaches an OTLP/HTTP receiver named by
`OTEL_EXPORTER_OTLP_ENDPOINT`, under `OTEL_SERVICE_NAME`."""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from supportdesk_observability import tracing

# A service as create_app builds it, one request to a route, then the process ends (flushing).
SERVICE = """
import asyncio, json, sys
import httpx
from fastapi import APIRouter
from supportdesk_observability import tracing
from supportdesk_service.settings import ServiceSettings
from supportdesk_service.runtime import ServiceDefinition
from supportdesk_service.app import create_app

router = APIRouter()

@router.get("/v1/ping")
async def ping() -> dict[str, object]:
    return {"context": tracing.capture()}

async def main() -> None:
    app = create_app(ServiceDefinition(name="probe", settings=ServiceSettings(), routers=[router]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        answer = (await client.get("/v1/ping")).json()
    sdk = sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk"))
    print(json.dumps({"enabled": tracing.enabled(), "captured": answer["context"], "sdk_modules": len(sdk)}))
    tracing.shutdown()

asyncio.run(main())
"""


def run_service(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", SERVICE], env={**clean, **env}, capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps each export request, decoded with the OTLP protobufs."""

    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Receiver.received
    server.shutdown()


def test_off_by_default_nothing_of_the_sdk_is_imported_and_nothing_is_captured() -> None:
    assert run_service() == {"enabled": False, "captured": None, "sdk_modules": 0}


@pytest.mark.parametrize(
    "env",
    [{"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}],
    ids=["exporter-none", "sdk-disabled"],
)
def test_the_standard_variables_that_say_off_keep_it_off(env: dict[str, str]) -> None:
    assert run_service(**env) == {"enabled": False, "captured": None, "sdk_modules": 0}


def test_otlp_sends_the_request_span_to_the_collector_under_the_service_name(
    collector: tuple[str, list[ExportTraceServiceRequest]],
) -> None:
    endpoint, received = collector
    result = run_service(
        OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="probe-in-staging"
    )
    assert result["enabled"] is True
    captured = result["captured"]
    assert isinstance(captured, dict) and set(captured) >= {"traceparent"}
    spans = [
        (resource.resource, span)
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    [(resource, span)] = [(r, s) for r, s in spans if s.name == "GET /v1/ping"]
    names = {a.key: a.value.string_value for a in resource.attributes}
    assert names["service.name"] == "probe-in-staging"
    # The context the route captured (what record() stores) is the request span's.
    assert captured["traceparent"].split("-")[1:3] == [span.trace_id.hex(), span.span_id.hex()]


def test_the_variables_are_read_as_the_specification_says() -> None:
    assert tracing.wanted({}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"}) == ["otlp"]
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp, console"}) == ["otlp", "console"]
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}) == ["otlp"]
