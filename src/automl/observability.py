"""Prometheus metrics and the request-timing middleware.

Metrics live in the process-wide default registry (defined once at import); `/metrics` renders them.
Route labels use the matched path template (`/api/v1/predict/{model_id}`), never the raw URL, so the
number of series stays bounded; per-model figures are labelled by model id.
"""
from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter("automl_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "automl_http_request_duration_seconds", "HTTP request latency", ["method", "route"], buckets=LATENCY_BUCKETS
)
PREDICT_REQUESTS = Counter("automl_predict_requests_total", "Prediction requests per model", ["model_id", "status"])
PREDICT_ROWS = Counter("automl_predictions_total", "Rows predicted per model (API and batch)", ["model_id", "source"])
PREDICT_LATENCY = Histogram(
    "automl_predict_duration_seconds", "Time spent validating and predicting, per model", ["model_id"],
    buckets=LATENCY_BUCKETS,
)
PREDICT_ERRORS = Counter("automl_predict_errors_total", "Failed prediction requests per model", ["model_id", "code"])
JOBS = Gauge("automl_jobs", "Jobs in the queue by kind and status", ["kind", "status"])
BATCH_PREDICTIONS = Gauge("automl_batch_predictions", "Batch predictions by status", ["status"])
CACHED_MODELS = Gauge("automl_model_cache_models", "Models loaded in this process's cache")
CACHED_BYTES = Gauge("automl_model_cache_bytes", "Estimated memory of the loaded models")

_seen_jobs: set[tuple[str, str]] = set()
_seen_batches: set[str] = set()


def set_queue_gauges(jobs: dict[tuple[str, str], int], batches: dict[str, int]) -> None:
    """Current counts; a kind/status that disappeared from the table drops to zero rather than lingering."""
    for key in _seen_jobs - set(jobs):
        JOBS.labels(*key).set(0)
    for key, n in jobs.items():
        JOBS.labels(*key).set(n)
    _seen_jobs.update(jobs)
    for status in _seen_batches - set(batches):
        BATCH_PREDICTIONS.labels(status).set(0)
    for status, n in batches.items():
        BATCH_PREDICTIONS.labels(status).set(n)
    _seen_batches.update(batches)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class TimingMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead): counts and times every HTTP request by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_label(scope)
            HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - start)
            HTTP_REQUESTS.labels(scope["method"], route, str(status[0])).inc()


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    return "/static" if str(scope.get("path", "")).startswith("/static/") else "unmatched"
