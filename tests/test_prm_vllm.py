"""The ``prm`` reward's vLLM backend against a real HTTP server on loopback that answers
vLLM's ``POST /pooling`` schema (PoolingResponse: ``data[i].data`` the per-token or per-step
class rows) from a tiny real token-classification model built here, so its step scores are
checked against the local ``prm`` path on the same model. vLLM itself does not install here;
the server is this file's, the client is assay's (bounded timeouts and retries, typed failures)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("transformers")

from test_prm import SOLUTIONS, minilm_tokenizer, token_prm  # noqa: E402,F401 - the tiny token-classification PRM

from assay.backends import local_models  # noqa: E402
from assay.rewards.process.prm import StepRewardModel  # noqa: E402
from assay.types import Sample  # noqa: E402

SEP = " [SEP]"  # one token (102) in the MiniLM tokenizer: the step tag a STEP pooler looks for


class PoolingServer:
    """vLLM's /pooling for one token-classification model: ALL pooling (a row per token) or
    STEP pooling (rows at ``step_tag_id``), softmax probabilities or raw logits. ``script``
    is a list of HTTP statuses to answer first (then 200); ``delay`` seconds before answering;
    ``body`` replaces the answer."""

    def __init__(self, folder, pooling="all", step_tag_id=None, logits=False):
        self.model, _ = local_models.token_classifier(str(folder))
        self.pooling, self.step_tag_id, self.logits = pooling, step_tag_id, logits
        self.script: list[int] = []
        self.delay = 0.0
        self.body: str | None = None
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(request)
                if server.delay:
                    time.sleep(server.delay)
                status = server.script.pop(0) if server.script else 200
                text = json.dumps({"object": "error", "message": "scripted", "code": status}) if status != 200 else (server.body or server.answer(request))
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except BrokenPipeError:  # the client gave up on a slow answer (the timeout test)
                    pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def answer(self, request: dict) -> str:
        import torch

        assert request["encoding_format"] == "float"
        data = []
        for index, ids in enumerate(request["input"]):
            with torch.inference_mode():
                logits = self.model(input_ids=torch.tensor([ids])).logits[0].float()
            rows = logits if self.logits else torch.softmax(logits, dim=-1)
            if self.pooling == "step":
                rows = rows[torch.tensor(ids) == self.step_tag_id]
            data.append({"index": index, "object": "pooling", "data": rows.tolist()})
        n = sum(len(ids) for ids in request["input"])
        return json.dumps({"id": "pool-test", "object": "list", "created": int(time.time()), "model": request.get("model", "prm"), "data": data,
                           "usage": {"prompt_tokens": n, "total_tokens": n, "completion_tokens": 0, "prompt_tokens_details": None}})

    def close(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server(token_prm):  # noqa: F811
    running = PoolingServer(token_prm)
    yield running
    running.close()


def local_scores(folder, **options):
    return [j.details["step_scores"] for j in StepRewardModel(model=str(folder), convention="token_classification", **options).score(SOLUTIONS)]


def test_all_pooling_equals_the_local_prm(server, token_prm):  # noqa: F811
    reward = StepRewardModel(model=str(token_prm), backend="vllm", base_url=server.url, vllm_pooling="all", batch_size=2,
                             served_model="my-prm", vllm_task="token_classify")
    judged = reward.score(SOLUTIONS)
    assert all(j.ok for j in judged), [j.rationale for j in judged]
    for ours, local in zip([j.details["step_scores"] for j in judged], local_scores(token_prm), strict=True):
        assert ours == pytest.approx(local, abs=1e-5)
    assert len(server.requests) == 2  # 3 solutions, batches of 2
    first = server.requests[0]
    assert first["model"] == "my-prm" and first["task"] == "token_classify" and all(isinstance(t, int) for t in first["input"][0])
    assert judged[0].score == pytest.approx(min(judged[0].details["step_scores"]))


def test_step_pooling_at_the_separator_token_equals_the_local_prm(token_prm):  # noqa: F811
    step = PoolingServer(token_prm, pooling="step", step_tag_id=102)
    try:
        reward = StepRewardModel(model=str(token_prm), backend="vllm", base_url=step.url, separator=SEP)
        judged = reward.score(SOLUTIONS)
        assert all(j.ok for j in judged), [j.rationale for j in judged]
        local = local_scores(token_prm, separator=SEP)
        for ours, theirs in zip([j.details["step_scores"] for j in judged], local, strict=True):
            assert ours == pytest.approx(theirs, abs=1e-5)
        assert "model" not in step.requests[0] and "task" not in step.requests[0]
        # a step holding the tag token gives more rows than steps: no guess, a parse failure naming both counts
        [bad] = reward.score([Sample(prompt="p", response="", steps=["a [SEP] b", "c"])])
        assert bad.failure.kind == "parse" and "3 step rows for 2 steps" in bad.rationale
    finally:
        step.close()


def test_raw_logits_are_softmaxed(token_prm):  # noqa: F811
    raw = PoolingServer(token_prm, logits=True)
    try:
        reward = StepRewardModel(model=str(token_prm), backend="vllm", base_url=raw.url, vllm_pooling="all", vllm_returns="logits")
        ours = [j.details["step_scores"] for j in reward.score(SOLUTIONS)]
        for a, b in zip(ours, local_scores(token_prm), strict=True):
            assert a == pytest.approx(b, abs=1e-5)
        # read as probabilities, the logits are refused, not used
        as_probs = StepRewardModel(model=str(token_prm), backend="vllm", base_url=raw.url, vllm_pooling="all").score(SOLUTIONS[:1])[0]
        assert as_probs.failure.kind == "parse" and "not probabilities" in as_probs.rationale
    finally:
        raw.close()


def test_retries_then_success_and_typed_failures(server, token_prm):  # noqa: F811
    def reward(**options):
        return StepRewardModel(model=str(token_prm), backend="vllm", base_url=server.url, vllm_pooling="all", **options)

    server.script = [503, 503]
    [ok] = reward(retries=2).score(SOLUTIONS[:1])
    assert ok.ok and len(server.requests) == 3
    server.requests.clear()
    server.script = [400]
    [refused] = reward(retries=3).score(SOLUTIONS[:1])
    assert refused.failure.kind == "backend" and "HTTP 400" in refused.rationale and len(server.requests) == 1  # a 4xx is not retried
    server.script = [503] * 5
    [down] = reward(retries=1).score(SOLUTIONS[:1])
    assert down.failure.kind == "backend" and "gave up after 2 attempts" in down.rationale
    server.script = []
    server.delay = 1.5
    started = time.perf_counter()
    [slow] = reward(timeout=0.3, retries=1).score(SOLUTIONS[:1])
    assert slow.failure.kind == "timeout" and time.perf_counter() - started < 1.5 * 2  # bounded: 2 attempts of 0.3 s plus a backoff
    server.delay = 0.0
    for body, message in [("not json", "not a PoolingResponse"), (json.dumps({"object": "list"}), "no 'data' list"),
                          (json.dumps({"data": [{"index": 0, "data": "AAAA"}]}), "base64"),
                          (json.dumps({"data": [{"index": 0, "data": [[0.5, float("nan")]]}]}), "not a finite number"),
                          (json.dumps({"data": [{"index": 0, "data": [[0.5, 0.5]]}]}), "token rows for")]:
        server.body = body
        [broken] = reward(retries=0).score(SOLUTIONS[:1])
        assert broken.failure.kind == "parse" and message in broken.rationale, (body, broken.rationale)
        assert broken.score is None
    server.body = None


def test_no_server_is_a_backend_failure_and_options_are_checked(token_prm):  # noqa: F811
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    [nobody] = StepRewardModel(model=str(token_prm), backend="vllm", base_url=f"http://127.0.0.1:{port}", retries=1, timeout=2).score(SOLUTIONS[:1])
    assert nobody.failure.kind == "backend" and "could not reach" in nobody.rationale
    with pytest.raises(ValueError, match="needs base_url"):
        StepRewardModel(model=str(token_prm), backend="vllm")
    with pytest.raises(ValueError, match="token-classification PRMs"):
        StepRewardModel(model=str(token_prm), backend="vllm", base_url="http://127.0.0.1:9", convention="tag_logits")
    [missing] = StepRewardModel(model="/nonexistent/prm", backend="vllm", base_url="http://127.0.0.1:9").score(SOLUTIONS[:1])
    assert missing.failure.kind == "backend" and "tokenizer" in missing.rationale
