"""The other trainers' reward protocols, answered by ``assay serve`` beside its own endpoints.

Each route reads the other side's request, scores it through the same service (batcher,
limits, timeouts, metrics, auth) as ``/v1/score``, and answers in that side's shape:

- ``POST /slime`` (slime's ``--rm-type remote_rm``, ``--rm-url http://host:port/slime``): body
  ``{"prompt", "response", "label"}``; answer a bare number (the total), or with ``?detail=1``
  (for slime's ``--reward-key score``) ``{"score", "failed", "failure_kind", "rationale",
  <component>: ...}``. A failed total is NaN (slime reads the body with Python's ``json``)
  unless the server has a ``failure_score``. See :mod:`assay.integrations.slime`.

- ``POST /verify`` (a NeMo Gym resources server: name this server as the resources server of
  your NeMo Gym environment): body NeMo Gym's ``BaseVerifyRequest``; answer its
  ``BaseMultiRewardVerifyResponse``: the request echoed with ``reward``, the named
  ``reward_components`` of the composite, ``mask_sample``/``failure_kind``/``failure_reason``
  for failures and the rationales under ``assay``. ``?reference=FIELD`` names the task field
  holding the reference. ``POST /seed_session`` and ``/close_session`` answer as NeMo Gym's
  stateless default does (an agent seeds before it runs). See :mod:`assay.integrations.nemo_gym`.

What is not here: the conversions themselves, which live with each adapter in
``assay/integrations/`` and work without a server.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from assay.integrations.common import component_names, group_refusal
from assay.integrations.nemo_gym import verify_response, verify_sample
from assay.integrations.slime import remote_sample, slime_answer

PROTOCOL_ENDPOINTS = ("/slime", "/verify", "/seed_session", "/close_session")


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Wire:
    """What the routes take from the server (assay/serve/app.py passes them, so this module
    does not import it): auth, reading a body, the request timeout, answering and refusing."""

    authorize: Callable[[Any], None]  # request -> None, or raises the 401
    read: Callable[[Any], Awaitable[Any]]  # request -> the JSON body (400/408/413 as for /v1/score)
    timeout_of: Callable[[Any], float]  # body -> seconds
    answer: Callable[..., Any]  # (content, allow_nan=False) -> response
    refuse: Callable[[int, str], Exception]  # (status, message) -> the exception to raise


def add_protocol_routes(app: Any, service: Any, settings: Any, wire: Wire) -> None:
    """Add the protocol routes to the server's FastAPI ``app``."""

    def failure_score() -> float:
        return math.nan if settings.failure_score is None else settings.failure_score

    async def score_alone(sample: Any, body: Any, route: str, caller: str, instead: str) -> Any:
        """One sample through the service; a config that needs whole groups refuses it (an
        ``input`` failure, counted in the route's metrics like any other judgment)."""
        refused = group_refusal(service.reward, caller, instead)
        if refused:
            service._count(route, [refused])
            return refused
        (judgment,) = await service.score([sample], wire.timeout_of(body), route)
        return judgment

    @app.post("/slime")
    async def slime(request: Request) -> Any:
        wire.authorize(request)
        body = await wire.read(request)
        try:
            sample = remote_sample(body)
        except ValueError as error:
            raise wire.refuse(422, f"slime remote_rm body: {error}") from None
        judgment = await score_alone(sample, body, "/slime", "slime's remote_rm", "use --custom-rm-path assay.integrations.slime.reward_func with --group-rm")
        detail = _flag(request.query_params.get("detail"))
        answer = slime_answer(judgment, component_names(service.reward), failure_score(), "score" if detail else None)
        return wire.answer(answer, allow_nan=True)

    @app.post("/verify")
    async def verify(request: Request) -> Any:
        wire.authorize(request)
        body = await wire.read(request)
        try:
            sample = verify_sample(body, request.query_params.get("reference"))
        except ValueError as error:
            raise wire.refuse(422, f"NeMo Gym verify request: {error}") from None
        judgment = await score_alone(sample, body, "/verify", "NeMo Gym's /verify", "score groups through /v1/score with a group id")
        failed_as = 0.0 if settings.failure_score is None else settings.failure_score  # orjson refuses NaN; mask_sample says it
        return wire.answer(verify_response(body, judgment, component_names(service.reward), failed_as))

    @app.post("/seed_session")
    async def seed_session(request: Request) -> Any:
        wire.authorize(request)
        body = await wire.read(request)
        session = body.get("resources_session_id") if isinstance(body, dict) else None
        return wire.answer({"resources_session_id": session} if session is not None else {})

    @app.post("/close_session")
    async def close_session(request: Request) -> Any:
        wire.authorize(request)
        body = await wire.read(request)
        session = body.get("resources_session_id") if isinstance(body, dict) else None
        return wire.answer({"resources_session_id": session} if session is not None else {})


__all__ = ["add_protocol_routes", "Wire", "PROTOCOL_ENDPOINTS"]
