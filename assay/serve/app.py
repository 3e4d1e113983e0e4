"""The reward server: a FastAPI app that scores samples with the rewards of one config.

``build_app(config, Settings(...))`` returns the app; ``assay serve`` runs it on uvicorn.

Endpoints (all JSON; every error is ``{"error": {"status", "message"}}`` with a 4xx code that
says what was wrong, and never takes the server down):

- ``POST /v1/score`` ``{"samples": [{"prompt"?, "response", "reference"?, "id"?, "group"?,
  ...fields}], "timeout"?, "step"?}`` -> ``{"judgments": [{"score", "rationale", "failure", "details"}]}``
  (``details`` holds each named reward's own judgment); ``step``, the trainer's step, moves
  the config's weight schedules (the latest request's step counts).
- ``POST /v1/compare`` ``{"pairs": [{"prompt"?, "response_a", "response_b", "reference"?}]}``
  -> ``{"preferences": [{"winner", "probability", "rationale", "failure"}]}``.
- ``POST /get_reward`` (OpenRLHF's remote reward) ``{"query": [...], "prompts": [...],
  "labels": [...]}`` -> ``{"rewards", "scores", "extra_logs", "rationales", "failures",
  "component_rationales"}`` (``extra_logs``: ``failed``, each component and ``<name>/failed``);
  a failed total is ``NaN`` (Python's ``json`` reads it) unless the server was started with
  a ``failure_score``, and ``extra_logs.failed`` marks it.
- Other trainers' protocols (slime's ``remote_rm`` at ``POST /slime``, ...): see
  :mod:`assay.serve.protocols`.
- ``GET /health`` (no auth): ``{"status": "ok", ...}``; 503 while shutting down, and 503 with
  ``"status": "wedged"`` when every reward thread is held by a call that outlived its timeout
  (see :mod:`assay.serve.pool`), so a load balancer takes the server out.
- ``GET /metrics``: Prometheus text (requests by status, failures by kind, batch sizes,
  latency, queue depth).

Limits and their answers: a body over ``max_body_bytes`` -> 413; more samples than
``max_samples`` in one request -> 413; not JSON, JSON nested deeper than 100 levels or a
string with a lone surrogate (``\\ud800``) -> 400 naming the field; a body not received
within ``body_timeout`` -> 408 (request heads, connection counts: :mod:`assay.serve.connections`);
a wedged reward pool -> 503; JSON of the wrong shape -> 422; a
missing or wrong bearer token (when ``token`` is set) -> 401; more than ``queue_size``
samples waiting -> 429 with ``Retry-After``; shutting down -> 503. A request not scored
within its timeout (``timeout`` in the body, capped by the server's) is answered **200 with
a typed ``timeout`` failure for each of its samples** (score ``null``): a timeout is a
failure of those judgments, reported like any other, not a server error; its queued work is
dropped, and a reward call already running finishes in the background and is discarded.
A reward that raises gives ``internal`` failures for the samples it could not score; their
tracebacks are logged (logger ``assay.serve``) under a reference id that the client gets
instead of the traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import itertools
import json
import logging
import math
import os
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, Response

from assay.files.jsonl import MAX_DEPTH, finite_json, json_problem, text_problem
from assay.integrations.common import component_names, set_step
from assay.integrations.openrlhf import ascore_queries, result_lists
from assay.reward import Comparator
from assay.serve.batcher import MicroBatcher, QueueFull, ShuttingDown
from assay.serve.metrics import Metrics
from assay.serve.pool import RewardPool
from assay.serve.protocols import PROTOCOL_ENDPOINTS, Wire, add_protocol_routes
from assay.text import group_key
from assay.types import Failure, Judgment, Pair, Preference, Sample

log = logging.getLogger("assay.serve")

ENDPOINTS = ("/v1/score", "/v1/compare", "/get_reward", "/health", "/metrics", *PROTOCOL_ENDPOINTS)


@dataclass
class Settings:
    """How the server batches and what it accepts (``assay serve --help`` lists them)."""

    max_batch: int = 32  # samples per reward call
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    queue_size: int = 1024  # samples accepted and not yet scored, beyond which 429
    concurrency: int = 2  # reward calls (batches) running at once
    timeout: float = 60.0  # seconds a request may wait for its judgments (its own timeout may be lower)
    max_body_bytes: int = 8 * 1024 * 1024
    max_samples: int = 1024  # per request
    token: str | None = None  # bearer token; None: no auth
    failure_score: float | None = None  # for /get_reward and /slime: what a failed total becomes (None: NaN); /verify: the number beside mask_sample (None: 0.0)
    reward_threads: int = 16  # threads for synchronous reward calls (the reward pool)
    max_abandoned: int = 64  # reward calls still running past their timeout before the server reports itself wedged
    warm_up: bool = True  # call each reward's warm_up() at start (the math pool), so first requests do not pay for it
    header_timeout: float = 10.0  # seconds a connection may take to send a request's headers; then closed (408)
    body_timeout: float = 30.0  # seconds a request may take to send its body; then 408
    max_connections: int = 1000  # open connections; beyond, an immediate 503 and close
    keep_alive: float = 5.0  # seconds an idle keep-alive connection is kept open
    max_header_bytes: int = 64 * 1024  # largest request head the h11 parser accepts

    def __post_init__(self) -> None:
        for name in ("timeout", "header_timeout", "body_timeout", "keep_alive"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {getattr(self, name)!r}")
        if self.reward_threads < 1 or self.max_abandoned < 0 or self.max_connections < 0:
            raise ValueError("reward_threads must be >= 1, max_abandoned and max_connections >= 0")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _json(content: Any, status: int = 200, allow_nan: bool = False, headers: dict[str, str] | None = None) -> Any:
    if not allow_nan:
        content = finite_json(content)
    body = json.dumps(content, ensure_ascii=False, allow_nan=allow_nan, default=str, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    return _json({"error": {"status": status, "message": message}}, status, headers=headers)


# --- request parsing ----------------------------------------------------------------------------
async def read_json(request: Any, limit: int, timeout: float | None = None) -> Any:
    """The request body as JSON, refusing bodies over ``limit`` bytes (413), bodies not
    received within ``timeout`` seconds (408, connection closed) and non-JSON (400)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, f"Content-Length {length!r} is not a number") from None
        if declared > limit:
            raise ApiError(413, f"request body is {declared} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    stream = request.stream().__aiter__()
    while True:
        try:
            if deadline is None:
                chunk = await stream.__anext__()
            else:
                chunk = await asyncio.wait_for(stream.__anext__(), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise ApiError(408, f"request body not received within {timeout:g} s (after {size} bytes)", {"Connection": "close"}) from None
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ApiError(400, f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise ApiError(400, f"request body is nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    # deep nesting or a lone surrogate escape: a 400 naming the field, not a 500 when answering
    if (problem := json_problem(body)) is not None:
        where, what = problem
        raise ApiError(400, f"{where or 'request body'}: {what}")
    return body


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, f"expected a JSON object at the top level, got {type(body).__name__}")
    return body


def _list_field(body: dict[str, Any], key: str, limit: int, example: str) -> list[Any]:
    items = body.get(key)
    if items is None:
        raise ApiError(422, f"missing field {key!r}; expected {example}")
    if not isinstance(items, list):
        raise ApiError(422, f"field {key!r} must be a list, got {type(items).__name__}")
    if not items:
        raise ApiError(422, f"field {key!r} is empty; send at least one item")
    if len(items) > limit:
        raise ApiError(413, f"{len(items)} items in {key!r}; the limit per request is {limit}")
    return items


def parse_samples(body: Any, limit: int) -> list[Sample]:
    rows = _list_field(_object(body), "samples", limit, '{"samples": [{"prompt": ..., "response": ..., "reference": ...}]}')
    samples = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ApiError(422, f"samples[{i}] must be an object, got {type(row).__name__}")
        if "response" not in row:
            raise ApiError(422, f"samples[{i}]: missing field 'response'")
        for field in ("prompt", "response"):
            if row.get(field) is not None and (problem := text_problem(row[field], field)):
                raise ApiError(422, f"samples[{i}].{field}: {problem}")
        steps = row.get("steps")
        if steps is not None and not (isinstance(steps, list) and all(isinstance(s, str) for s in steps)):
            raise ApiError(422, f"samples[{i}].steps: expected a list of strings")
        samples.append(Sample.from_dict(row))
    return samples


def parse_pairs(body: Any, limit: int) -> list[Pair]:
    rows = _list_field(_object(body), "pairs", limit, '{"pairs": [{"prompt": ..., "response_a": ..., "response_b": ...}]}')
    pairs = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ApiError(422, f"pairs[{i}] must be an object, got {type(row).__name__}")
        for field in ("response_a", "response_b"):
            if field not in row:
                raise ApiError(422, f"pairs[{i}]: missing field {field!r}")
        for field in ("prompt", "response_a", "response_b"):
            if row.get(field) is not None and (problem := text_problem(row[field], field)):
                raise ApiError(422, f"pairs[{i}].{field}: {problem}")
        pairs.append(Pair.from_dict(row))
    return pairs


def parse_openrlhf(body: Any, limit: int) -> tuple[list[str], list[Any] | None, list[Any] | None]:
    body = _object(body)
    queries = _list_field(body, "query", limit, '{"query": [prompt+response, ...], "prompts": [...], "labels": [...]}')
    if not all(isinstance(q, str) for q in queries):
        raise ApiError(422, "every item of 'query' must be a string (prompt + response)")
    lists: dict[str, list[Any] | None] = {}
    for key in ("prompts", "labels"):
        value = body.get(key)
        if value is not None and (not isinstance(value, list) or len(value) != len(queries)):
            raise ApiError(422, f"field {key!r} must be a list with one item per query ({len(queries)})")
        lists[key] = value
    if lists["prompts"] is not None and not all(isinstance(p, str) for p in lists["prompts"]):
        raise ApiError(422, "every item of 'prompts' must be a string")
    return queries, lists["prompts"], lists["labels"]


def _timeout_of(body: Any, server_timeout: float) -> float:
    value = body.get("timeout") if isinstance(body, dict) else None
    if value is None:
        return server_timeout
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ApiError(422, f"'timeout' must be a positive number of seconds, got {value!r}")
    return min(float(value), server_timeout)


def _step_of(body: Any) -> int | None:
    """The trainer's step a request carries (``"step": n``, optional): the server's weight
    schedules follow the step of the latest request that gave one."""
    value = body.get("step") if isinstance(body, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(422, f"'step' must be a non-negative integer (the trainer's step), got {value!r}")
    return value


# --- internal failures: the traceback stays in the server log -----------------------------------
def _log_internal(message: str, error: BaseException | None = None, raw: str | None = None) -> str:
    """Log an internal failure with its traceback; the reference a client can quote."""
    ref = uuid.uuid4().hex[:12]
    if error is not None:
        log.error("internal failure [reference %s]: %s", ref, message, exc_info=error)
    else:
        log.error("internal failure [reference %s]: %s\n%s", ref, message, raw or "")
    return ref


def _scrubbed(result: Any) -> Any:
    """A judgment (or preference) as sent to a client: an ``internal`` failure's traceback
    (server paths, the innermost frames) is logged here and replaced by a reference id."""
    if not isinstance(result, Judgment):
        failure = getattr(result, "failure", None)
        if failure is not None and failure.kind == "internal" and failure.raw:
            ref = _log_internal(failure.message, raw=failure.raw)
            return dataclasses.replace(result, failure=Failure("internal", f"{failure.message} [reference {ref}]"))
        return result
    details = {k: _scrubbed(v) if isinstance(v, Judgment) else v for k, v in result.details.items()}
    failure = result.failure
    if failure is not None and failure.kind == "internal" and failure.raw:
        ref = _log_internal(failure.message, raw=failure.raw)
        message = f"{failure.message} [reference {ref}]"
        return dataclasses.replace(result, rationale=message if result.rationale == failure.message else result.rationale, failure=Failure("internal", message), details=details)
    if details != result.details:
        return dataclasses.replace(result, details=details)
    return result


# --- the server's state -----------------------------------------------------------------------
class RewardService:
    """The reward, the comparator, their batchers and the metrics: what the endpoints use."""

    def __init__(self, reward: Any, comparator: Comparator, settings: Settings, name: str = "") -> None:
        self.reward = reward
        self.comparator = comparator
        self.settings = settings
        self.name = name
        self.metrics = Metrics()
        self.closing = False
        self.pool = RewardPool(settings.reward_threads, settings.max_abandoned)
        self._requests = itertools.count()
        wait = settings.max_wait_ms / 1000.0
        common = dict(max_batch=settings.max_batch, max_wait=wait, queue_size=settings.queue_size, concurrency=settings.concurrency, call_timeout=settings.timeout)
        # A reward that works within groups (normalisation, trust weights, listwise judges) is
        # called once per request: pooling requests would let one client's samples move
        # another's scores.
        score_settings = {**common, "max_batch": 1} if reward.needs_whole_groups else common
        self.score_batcher: MicroBatcher[Sample, Judgment] = MicroBatcher("score", reward.ascore, on_batch=self._on_batch("score"), **score_settings)  # type: ignore[arg-type]
        self.compare_batcher: MicroBatcher[Pair, Preference] = MicroBatcher("compare", comparator.acompare, on_batch=self._on_batch("compare"), **common)  # type: ignore[arg-type]
        for batcher in (self.score_batcher, self.compare_batcher):
            self.metrics.set("assay_queue_capacity", settings.queue_size, batcher=batcher.name)
            self.metrics.set("assay_queue_outstanding", 0, batcher=batcher.name)

    def _on_batch(self, name: str) -> Any:
        def record(size: int, seconds: float) -> None:
            self.metrics.observe("assay_batch_size", size, batcher=name)
            self.metrics.observe("assay_batch_seconds", seconds, batcher=name)
            batcher = self.score_batcher if name == "score" else self.compare_batcher
            self.metrics.set("assay_queue_outstanding", batcher.outstanding, batcher=name)

        return record

    async def start(self) -> None:
        # every synchronous reward call (asyncio.to_thread) runs in the server's own pool
        asyncio.get_running_loop().set_default_executor(self.pool)
        if self.settings.warm_up:
            await self.warm_up()
        await self.score_batcher.start()
        await self.compare_batcher.start()

    async def warm_up(self) -> None:
        """Call ``warm_up()`` on every reward (and component) that has one, before serving:
        a lazily started worker pool (math) would else cost the first requests their timeout."""
        seen: set[int] = set()
        todo = [self.reward, self.comparator]
        while todo:
            item = todo.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            components = getattr(item, "components", None)
            todo.extend(components.values() if isinstance(components, dict) else [])
            if hasattr(item, "wrapped"):  # what a wrapper, a judge or a comparator holds (Vote, Swap, calibration, tournament)
                todo.extend(item.wrapped())
            warm = getattr(item, "warm_up", None)
            if callable(warm):
                name = getattr(item, "name", type(item).__name__)
                started = time.perf_counter()
                try:
                    await asyncio.to_thread(warm)
                except Exception as error:  # noqa: BLE001 - its samples will fail, typed, when scored
                    log.warning("warm-up of %s failed: %s: %s", name, type(error).__name__, error)
                else:
                    log.info("warmed up %s in %.1f s", name, time.perf_counter() - started)

    def health(self) -> tuple[str, str | None]:
        """``("ok" | "wedged" | "shutting_down", why)``: wedged when the reward pool has no
        thread left that could take a call."""
        if self.closing:
            return "shutting_down", "the server is shutting down"
        if self.pool.wedged:
            stats = self.pool.stats()
            return "wedged", (
                f"cannot score: all reward threads are held by {stats['abandoned_running']} calls that outlived their timeout "
                f"(the oldest has run {stats['oldest_call_seconds']:g} s); it recovers if they return"
            )
        return "ok", None

    def publish_pool(self) -> None:
        stats = self.pool.stats()
        for state in ("busy", "free"):
            self.metrics.set("assay_reward_threads", stats[state], state=state)
        self.metrics.set("assay_reward_threads", stats["abandoned_running"], state="abandoned")
        self.metrics.set("assay_reward_calls_queued", stats["queued"])
        self.metrics.set("assay_reward_calls_abandoned_total", stats["abandoned_total"])
        self.metrics.set("assay_reward_oldest_call_seconds", stats["oldest_call_seconds"])
        self.metrics.set("assay_wedged", 1 if stats["wedged"] else 0)

    async def stop(self) -> None:
        self.closing = True
        await asyncio.gather(self.score_batcher.stop(drain=True), self.compare_batcher.stop(drain=True))

    async def _submit(self, batcher: MicroBatcher[Any, Any], items: list[Any], timeout: float, endpoint: str, fail: Any) -> list[Any]:
        if len(items) > batcher.queue_size:  # could never fit: not a "retry later" (429)
            raise ApiError(413, f"{len(items)} items in one request; this server's queue holds {batcher.queue_size}")
        state, why = self.health()
        if state == "wedged":
            self.metrics.count("assay_rejected_total", reason="wedged")
            raise ApiError(503, f"server wedged: {why}", {"Retry-After": "30"})
        try:
            future = batcher.submit(items)
        except QueueFull as error:
            self.metrics.count("assay_rejected_total", reason="queue_full")
            raise ApiError(429, f"server busy: {error}; retry shortly", {"Retry-After": "1"}) from None
        except ShuttingDown as error:
            self.metrics.count("assay_rejected_total", reason="shutting_down")
            raise ApiError(503, str(error)) from None
        self.metrics.set("assay_queue_outstanding", batcher.outstanding, batcher=batcher.name)
        try:
            return [_scrubbed(r) for r in await asyncio.wait_for(future, timeout)]
        except asyncio.TimeoutError:
            self.metrics.count("assay_timeouts_total", endpoint=endpoint)
            message = f"not scored within the request timeout of {timeout:g} s (queue or reward too slow); the work was abandoned"
            return [fail("timeout", message) for _ in items]
        except Exception as error:  # noqa: BLE001 - a reward that raised: typed failures, not a 500
            ref = _log_internal(f"{type(error).__name__}: {error}", error)
            return [fail("internal", f"{type(error).__name__}: {error} [reference {ref}]") for _ in items]

    async def score(self, samples: list[Sample], timeout: float, endpoint: str = "/v1/score") -> list[Judgment]:
        request = next(self._requests)
        # Requests share a batch, so group ids are made per request: groups never mix across clients.
        tagged = [dataclasses.replace(s, group=(request, group_key(s.group))) if s.group is not None else s for s in samples]
        judgments = await self._submit(self.score_batcher, tagged, timeout, endpoint, Judgment.fail)
        self._count(endpoint, judgments)
        return judgments

    async def compare(self, pairs: list[Pair], timeout: float) -> list[Preference]:
        preferences = await self._submit(self.compare_batcher, pairs, timeout, "/v1/compare", Preference.fail)
        self._count("/v1/compare", preferences)
        return preferences

    def _count(self, endpoint: str, results: list[Any]) -> None:
        self.metrics.count("assay_samples_total", len(results), endpoint=endpoint)
        for result in results:
            if result.failure is not None:
                self.metrics.count("assay_failures_total", endpoint=endpoint, kind=result.failure.kind)


class MetricsMiddleware:
    """Counts every HTTP answer by endpoint and status, and its latency (pure ASGI, cheap)."""

    def __init__(self, app: Any, service: RewardService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in ENDPOINTS else "other"
            metrics = self.service.metrics
            metrics.count("assay_requests_total", endpoint=endpoint, status=str(status["code"]))
            if endpoint not in ("/metrics", "/health"):
                metrics.observe("assay_request_latency_seconds", time.perf_counter() - started, endpoint=endpoint)


def load_service(config: str | os.PathLike[str] | dict[str, Any], settings: Settings) -> RewardService:
    """Build the reward (and comparator) a config describes, once, for the server: the config
    is read once and both are built from what was read."""
    from assay.compose.load import build_comparator, build_composite, loaded

    read = loaded(config)
    reward = build_composite(read)
    comparator = build_comparator(read, reward)  # without a 'comparator:' section, the reward's scores decide
    name = str(config) if not isinstance(config, dict) else "inline config"
    return RewardService(reward, comparator, settings, name=name)


def build_app(config: str | os.PathLike[str] | dict[str, Any] | RewardService, settings: Settings | None = None) -> Any:
    """The FastAPI app for a config (or a prepared RewardService)."""
    settings = settings or (config.settings if isinstance(config, RewardService) else Settings())
    service = config if isinstance(config, RewardService) else load_service(config, settings)

    @asynccontextmanager
    async def lifespan(app: Any):  # type: ignore[no-untyped-def]
        await service.start()
        try:
            yield
        finally:
            await service.stop()  # uvicorn has already let accepted requests finish

    app = FastAPI(title="assay reward server", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Any:
        if error.status in (400, 413, 422):
            service.metrics.count("assay_rejected_total", reason="too_large" if error.status == 413 else "malformed")
        return _error(error.status, error.message, error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Any:
        ref = _log_internal(f"{request.url.path}: {type(error).__name__}: {error}", error)
        return _error(500, f"internal error [reference {ref}]: {type(error).__name__} (the server log has the details)")

    def authorize(request: Request) -> None:
        if settings.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.token.encode()):
            service.metrics.count("assay_rejected_total", reason="auth")
            raise ApiError(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')", {"WWW-Authenticate": "Bearer"})

    @app.post("/v1/score")
    async def score(request: Request) -> Any:
        authorize(request)
        body = await read_json(request, settings.max_body_bytes, settings.body_timeout)
        samples = parse_samples(body, settings.max_samples)
        set_step(service.reward, _step_of(body))
        judgments = await service.score(samples, _timeout_of(body, settings.timeout))
        return _json({"judgments": [j.to_dict() for j in judgments]})

    @app.post("/v1/compare")
    async def compare(request: Request) -> Any:
        authorize(request)
        body = await read_json(request, settings.max_body_bytes, settings.body_timeout)
        pairs = parse_pairs(body, settings.max_samples)
        preferences = await service.compare(pairs, _timeout_of(body, settings.timeout))
        return _json({"preferences": [p.to_dict() for p in preferences]})

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Any:
        authorize(request)
        body = await read_json(request, settings.max_body_bytes, settings.body_timeout)
        queries, prompts, labels = parse_openrlhf(body, settings.max_samples)
        timeout = _timeout_of(body, settings.timeout)
        judgments, unsplit = await ascore_queries(lambda samples: service.score(samples, timeout, "/get_reward"), queries, prompts, labels)
        if unsplit:
            service._count("/get_reward", unsplit)
        result = result_lists(judgments, service.reward, math.nan if settings.failure_score is None else settings.failure_score)
        return _json(result, allow_nan=True)

    async def read_body(request: Request) -> Any:
        return await read_json(request, settings.max_body_bytes, settings.body_timeout)

    wire = Wire(authorize, read_body, lambda body: _timeout_of(body, settings.timeout), _json, ApiError)
    add_protocol_routes(app, service, settings, wire)  # slime, NeMo Gym, ...: assay/serve/protocols.py

    @app.get("/health")
    async def health() -> Any:
        status, why = service.health()
        return _json(
            {
                "status": status,
                **({"reason": why} if why else {}),
                "config": service.name,
                "rewards": component_names(service.reward),
                "queue": service.score_batcher.stats(),
                "reward_pool": service.pool.stats(),
                "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "token"} | {"auth": settings.token is not None},
            },
            200 if status == "ok" else 503,
        )

    @app.get("/metrics")
    async def metrics(request: Request) -> Any:
        authorize(request)
        for batcher in (service.score_batcher, service.compare_batcher):
            service.metrics.set("assay_queue_outstanding", batcher.outstanding, batcher=batcher.name)
        service.publish_pool()
        return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(MetricsMiddleware, service=service)
    return app


def serve(config: str | os.PathLike[str] | dict[str, Any], host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None, log_level: str = "info") -> None:
    """Run the server in this process until SIGINT/SIGTERM; accepted requests are finished first."""
    import uvicorn

    from assay.serve.connections import uvicorn_config

    settings = settings or Settings()
    if host in ("0.0.0.0", "::", "") and settings.token is None:
        log.warning("serving on all interfaces (%s) without a token: anyone who can reach this port can use the server; set --token-env", host or "*")
    app = build_app(config, settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host, port, log_level))
    server.run()
    if not server.started:  # uvicorn.run would exit the process here; say why instead
        raise OSError(f"the server did not start on {host}:{port} (see uvicorn's message above)")


__all__ = ["Settings", "RewardService", "ApiError", "build_app", "serve", "load_service"]
