"""The reward-gen loop: ask a model for a reward function, check it, run it in the sandbox on
the labelled examples, measure its agreement, feed back what went wrong, repeat up to k
rounds, keep the best.

Each round is one ``Candidate``: the model's reply, the code found in it, the static check's
problems (``checks.py``; refused code is never run), and for code that passed, one Judgment
per example from the sandboxed function (``assay.rewards.function_sandbox``: a crash, a
time-out, a memory bomb is that example's typed failure) and the agreement with the labels
(``agreement.py``). The next prompt shows the last candidate, its problems or the examples
it got wrong or failed on, and the best agreement so far. Functions given with ``starts``
(a file of your own to improve on, or a known-good function in a test) are round 0: checked,
run and scored the same way, and kept when they stay the best.

    >>> result = generate("reward answers that mention Paris", examples, backend, BackendOptions(), rounds=3)  # doctest: +SKIP
    >>> result.best.round, result.best.agreement.value  # doctest: +SKIP

What is kept: the candidate with the highest agreement (the earliest on a tie); a candidate
that did not run is never kept. The loop stops early at agreement 1.0, and at a model call
that fails after the backend's own retries (a server that is down is not asked k times).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable

from assay.backends.base import Backend, BackendError
from assay.backends.settings import BackendOptions, sampling_params
from assay.rewardgen.agreement import Agreement, agreement
from assay.rewardgen.checks import ALLOWED_IMPORTS, FUNCTION, check
from assay.rewardgen.examples import Examples
from assay.types import Judgment

PROMPT = "reward_gen"
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)(?:```|\Z)", re.S)


@dataclass
class Candidate:
    round: int
    origin: str
    """``model`` or ``start: FILE``."""
    source: str | None = None
    reply: str | None = None
    error: str | None = None
    """The model call failed (after the backend's retries): why."""
    problems: list[str] = field(default_factory=list)
    agreement: Agreement | None = None
    judgments: list[Judgment] = field(default_factory=list)
    seconds: float = 0.0
    model: str = ""

    @property
    def status(self) -> str:
        if self.error is not None:
            return "model call failed"
        if self.problems:
            return "refused"
        return "ran"

    def failures(self) -> Counter:
        return Counter(j.failure.kind for j in self.judgments if j.failure is not None)

    def summary(self) -> str:
        if self.error is not None:
            return self.error
        if self.problems:
            return f"refused before running: {self.problems[0]}" + (f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else "")
        assert self.agreement is not None
        failed = self.failures()
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(failed.items()))
        return self.agreement.describe() + (f"; failures: {kinds}" if kinds else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round, "origin": self.origin, "status": self.status, "summary": self.summary(),
            "agreement": self.agreement.to_dict() if self.agreement else None, "problems": self.problems, "error": self.error,
            "failures": dict(self.failures()), "seconds": round(self.seconds, 3), "model": self.model, "source": self.source,
            "reply": self.reply, "judgments": [j.to_dict() for j in self.judgments],
        }


@dataclass
class RewardGenResult:
    task: str
    examples: Examples
    rounds: int
    candidates: list[Candidate]
    model: str
    threshold: float

    @property
    def best(self) -> Candidate | None:
        ran = [c for c in self.candidates if c.agreement is not None]
        return max(ran, key=lambda c: c.agreement.value) if ran else None  # type: ignore[union-attr]  # max keeps the first of equals

    def provenance(self, examples_sha256: str = "") -> dict[str, Any]:
        best = self.best
        return {
            "task": self.task, "model": (best.model if best and best.model else self.model), "rounds": self.rounds,
            "rounds_run": sum(c.origin == "model" for c in self.candidates), "best_round": best.round if best else None,
            "origin": best.origin if best else None, "agreement": best.agreement.value if best and best.agreement else None,
            "metric": best.agreement.metric if best and best.agreement else None, "threshold": self.threshold if self.examples.kind == "binary" else None,
            "agreement_text": best.summary() if best else None, "examples": self.examples.source, "examples_sha256": examples_sha256,
            "n_examples": len(self.examples.items), "labels": self.examples.kind,
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def table(self) -> str:
        rows = [f"{'round':>5}  {'origin':<22} {'status':<18} {'agreement':>9}  what"]
        best = self.best
        for c in self.candidates:
            value = f"{c.agreement.value:.3f}" if c.agreement else "-"
            mark = " *" if c is best else ""
            summary = c.summary()
            summary = summary if len(summary) <= 150 else summary[:149] + "…"
            origin = c.origin if c.origin == "model" else "start: " + c.origin.removeprefix("start: ").replace("\\", "/").rsplit("/", 1)[-1]
            rows.append(f"{c.round:>5}  {origin[:22]:<22} {c.status:<18} {value:>9}  {summary}{mark}")
        rows.append("(* kept)" if best else "no candidate ran: nothing to keep")
        return "\n".join(rows)

    def to_dict(self, examples_sha256: str = "") -> dict[str, Any]:
        return {"provenance": self.provenance(examples_sha256), "candidates": [c.to_dict() for c in self.candidates]}


def extract_code(reply: str) -> str:
    """The code of a reply: the last fenced block that defines ``reward``, else the last
    fenced block (an unclosed fence runs to the end), else the whole reply."""
    blocks = [b for b in _FENCE.findall(reply) if b.strip()]
    with_reward = [b for b in blocks if f"def {FUNCTION}" in b]
    if with_reward:
        return with_reward[-1]
    return blocks[-1] if blocks else reply


class Evaluator:
    """Checks one piece of code and, when it passes, runs it in the sandbox on the examples."""

    def __init__(self, examples: Examples, threshold: float = 0.5, timeout_seconds: float = 2.0, memory_mb: int = 512,
                 sandbox_backend: str = "auto", limits: dict[str, Any] | None = None) -> None:
        self.examples = examples
        self.threshold = threshold
        self.options = {"timeout_seconds": timeout_seconds, "memory_mb": memory_mb, "backend": sandbox_backend, "limits": limits or {}}

    def evaluate(self, candidate: Candidate) -> Candidate:
        from assay.rewards.function_sandbox import SandboxedFunction

        started = time.monotonic()
        assert candidate.source is not None
        candidate.problems = check(candidate.source)
        if not candidate.problems:
            o = self.options
            runner = SandboxedFunction(None, FUNCTION, f"round {candidate.round}'s reward", o["timeout_seconds"], o["memory_mb"],
                                       limits=o["limits"], backend=o["backend"], source=candidate.source)
            candidate.judgments = runner.score(self.examples.samples)
            scores = [j.score for j in candidate.judgments]
            candidate.agreement = agreement(self.examples.labels, scores, self.examples.kind, self.threshold)
        candidate.seconds += time.monotonic() - started
        return candidate


async def agenerate(task: str, examples: Examples, backend: Backend, options: BackendOptions | None = None, rounds: int = 3,
                    starts: list[tuple[str, str]] | tuple = (), threshold: float = 0.5, timeout_seconds: float = 2.0, memory_mb: int = 512,
                    sandbox_backend: str = "auto", show: int = 8, on_candidate: Callable[[Candidate], None] | None = None) -> RewardGenResult:
    """Run the loop (see the module docstring); ``starts`` are ``(name, source)`` pairs scored as round 0."""
    from assay.rewards.judges import prompting

    if rounds < 0:
        raise ValueError("rounds must be 0 or more")
    options = options or BackendOptions()
    evaluator = Evaluator(examples, threshold, timeout_seconds, memory_mb, sandbox_backend)
    result = RewardGenResult(task, examples, rounds, [], getattr(backend, "model", "") or options.model, threshold)

    def done(candidate: Candidate) -> None:
        result.candidates.append(candidate)
        if on_candidate is not None:
            on_candidate(candidate)

    for name, source in starts:
        done(await asyncio.to_thread(evaluator.evaluate, Candidate(0, f"start: {name}", source=source)))
    shown = shown_examples(examples, show)
    for number in range(1, rounds + 1):
        best = result.best
        if best is not None and best.agreement is not None and best.agreement.value >= 1.0:
            break
        system, user = prompting.render(
            PROMPT, task=" ".join(task.split()), allowed=", ".join(sorted(ALLOWED_IMPORTS)), examples=shown,
            label_meaning="true is a good response, false a bad one" if examples.kind == "binary" else "a number, higher is better",
            feedback=feedback(result.candidates[-1], best, examples) if result.candidates else "")
        started = time.monotonic()
        try:
            completion = await backend.complete(prompting.messages(system, user), **sampling_params(options))
        except BackendError as error:
            done(Candidate(number, "model", error=f"the model call failed ({error.kind}): {error}", seconds=time.monotonic() - started))
            break
        candidate = Candidate(number, "model", source=extract_code(completion.text), reply=completion.text,
                              seconds=time.monotonic() - started, model=completion.model or "")
        done(await asyncio.to_thread(evaluator.evaluate, candidate))
    return result


def generate(*args: Any, **kwargs: Any) -> RewardGenResult:
    """``agenerate`` from synchronous code (works inside a running event loop too)."""
    from assay.reward import run_sync

    return run_sync(agenerate(*args, **kwargs))


def shown_examples(examples: Examples, limit: int) -> str:
    """Up to ``limit`` examples for the prompt, labels alternating from the top and the bottom
    so both ends are seen; texts shortened and fenced as data."""
    from assay.rewards.judges.prompting import fence
    from assay.text import shorten

    order = sorted(range(len(examples.items)), key=lambda i: (-examples.items[i].label, i))
    picked: list[int] = []
    low, high = len(order) - 1, 0
    while len(picked) < min(limit, len(order)):
        picked.append(order[high])
        high += 1
        if len(picked) < limit and high <= low:
            picked.append(order[low])
            low -= 1
    parts = []
    for n, i in enumerate(sorted(picked), start=1):
        example = examples.items[i]
        sample = example.sample
        label = ("true" if example.label >= 0.5 else "false") if examples.kind == "binary" else f"{example.label:g}"
        text = [f"Example {n}, label {label}:"]
        if sample.prompt_text:
            text.append(fence("question", shorten(sample.prompt_text, 300)))
        text.append(fence("response", shorten(sample.response_text, 400)))
        if sample.reference is not None:
            text.append(fence("reference_answer", shorten(str(sample.reference), 200)))
        parts.append("\n".join(text))
    return "\n\n".join(parts)


def feedback(last: Candidate, best: Candidate | None, examples: Examples, limit: int = 6) -> str:
    """What the next prompt says about the last candidate (and the best so far)."""
    from assay.text import shorten

    lines = ["", f"Your previous function ({'round ' + str(last.round) if last.origin == 'model' else 'a function to improve on'}):"]
    if last.error is not None:
        lines = [""]
    elif last.source is not None:
        code = last.source.strip()
        lines += ["```python", code if len(code) <= 2500 else code[:2500] + "\n# ... (cut)", "```"]
    if last.problems:
        lines.append("It was refused before running, because:")
        lines += [f"- {p}" for p in last.problems[:5]]
    elif last.agreement is not None:
        lines.append(f"It ran on the {last.agreement.total} examples: {last.agreement.describe()}.")
        wrong = sorted((i for i, v in enumerate(last.agreement.per_example) if v < 1.0), key=lambda i: (last.agreement.per_example[i], i))  # type: ignore[union-attr]
        if wrong:
            lines.append("Examples it got wrong or failed on:")
        for i in wrong[:limit]:
            judgment, example = last.judgments[i], examples.items[i]
            label = ("true" if example.label >= 0.5 else "false") if examples.kind == "binary" else f"{example.label:g}"
            got = f"it failed ({judgment.failure.kind}): {shorten(judgment.failure.message, 200)}" if judgment.failure else (
                f"it returned {judgment.score:.3g}" if judgment.score is not None else "it returned None")
            lines.append(f"- the response {shorten(example.sample.response_text, 120)!r} has label {label}; {got}")
    if best is not None and best is not last and best.agreement is not None:
        lines.append(f"The best function so far (round {best.round}) has {best.agreement.describe()}.")
    lines.append("Fix these problems and write an improved function.")
    return "\n".join(lines) + "\n"
