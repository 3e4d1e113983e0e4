"""Step-level beam search: a generator writes one step at a time, a step reward scores the beams.

At each depth every live beam (a question and the steps so far) is extended ``expand`` times
by the generator, each call stopping at the step boundary (``stop``, a blank line by
default) with a seed drawn from (``seed``, item, depth, beam, k); identical extensions of one
beam are kept once. Every extension is scored by the reward (any assay reward giving
``step_scores``: ``prm``, ``step_arithmetic``, ``step_judge``, ``process``) on its steps so
far, aggregated (``aggregate``, min by default). A beam is finished when its new step holds
a final answer (``\\boxed{}``, ``####``, "The answer is"), when the generator wrote nothing
more, or when it stopped for another reason than the step boundary (end of text). The
``width`` best unfinished extensions live on; unscored ones (a failed or abstaining reward)
rank below scored ones.

Bounded three ways: ``max_depth`` steps per solution, ``max_calls`` generator calls per
question, and ``max_step_tokens`` tokens per step. When a bound stops the search, the live
beams are returned unfinished (``finished: false``). Every node (each extension, kept or
pruned) is returned with its steps, step scores and status, so a search can be read after.

    from assay.search.beam import BeamSearch, BeamSettings
    search = BeamSearch(reward, generator_backend, BeamSettings(width=2, expand=2, max_depth=6))
    result = search.run("Tom has 3 apples ...")     # result.best.text, result.nodes

The generator is any :class:`~assay.backends.base.Backend` (``assay.backends.openai`` in
``completions`` mode: the prompt is the question in ``prompt_template`` followed by the steps
so far, so the model continues the solution). Not here: lookahead, MCTS, or training.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from assay.backends.base import Backend, BackendError
from assay.reward import run_sync
from assay.search.candidates import Candidate, ascore_candidates, final_answer

DEFAULT_TEMPLATE = "Question: {question}\nAnswer: Let's think step by step.\n\n"


@dataclass
class BeamSettings:
    width: int = 2  # beams kept per depth
    expand: int = 2  # extensions sampled per beam
    max_depth: int = 8  # steps per solution at most
    max_calls: int = 64  # generator calls per question at most
    max_step_tokens: int = 128
    temperature: float = 0.8
    seed: int = 0
    stop: tuple[str, ...] = ("\n\n",)
    step_join: str = "\n\n"  # how the steps so far are written back into the prompt
    prompt_template: str = DEFAULT_TEMPLATE  # {question} is filled in
    aggregate: str = "min"

    def __post_init__(self) -> None:
        for name in ("width", "expand", "max_depth", "max_calls", "max_step_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"beam search: {name} must be at least 1, not {getattr(self, name)!r}")
        if "{question}" not in self.prompt_template:
            raise ValueError("beam search: prompt_template must contain {question}")


@dataclass
class Node:
    id: int
    parent: int | None
    depth: int
    candidate: Candidate
    finished: bool
    status: str = "live"  # live | kept | pruned | finished | truncated
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "parent": self.parent, "depth": self.depth, "finished": self.finished, "status": self.status,
                "finish_reason": self.finish_reason, **self.candidate.to_dict()}


@dataclass
class BeamResult:
    question: str
    best: Candidate | None
    finals: list[Node]  # the finished beams (and, when a bound stopped the search, the live ones)
    nodes: list[Node] = field(default_factory=list)
    calls: int = 0
    stopped_by: str = ""  # finished | max_depth | max_calls | no_beams

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "best": self.best.to_dict() if self.best else None, "finals": [n.id for n in self.finals],
                "nodes": [n.to_dict() for n in self.nodes], "calls": self.calls, "stopped_by": self.stopped_by}


def _rank(node: Node) -> tuple[int, float]:
    score = node.candidate.score
    return (0, 0.0) if score is None else (1, score)


class BeamSearch:
    """Step-level beam search over one generator and one step reward."""

    def __init__(self, reward: Any, generator: Backend, settings: BeamSettings | None = None) -> None:
        self.reward = reward
        self.generator = generator
        self.settings = settings or BeamSettings()

    def run(self, question: str, item_id: Any = "0", reference: Any = None) -> BeamResult:
        return run_sync(self.arun(question, item_id, reference))

    async def _extend(self, question: str, steps: list[str], seed: int) -> tuple[str, str | None] | BackendError:
        s = self.settings
        prompt = s.prompt_template.format(question=question) + "".join(step + s.step_join for step in steps)
        try:
            completion = await self.generator.complete([{"role": "user", "content": prompt}], temperature=s.temperature, max_tokens=s.max_step_tokens, seed=seed, stop=list(s.stop))
        except BackendError as error:
            return error
        return completion.text, completion.finish_reason

    async def arun(self, question: str, item_id: Any = "0", reference: Any = None) -> BeamResult:
        s = self.settings
        rng = random.Random(f"{s.seed}:{item_id}")
        nodes: list[Node] = []
        live: list[Node] = []  # the beams to extend; the root is the empty solution
        root_steps: list[list[str]] = [[]]
        finals: list[Node] = []
        calls = 0
        stopped_by = "no_beams"
        for depth in range(s.max_depth):
            parents = live if live else ([None] if depth == 0 else [])
            if not parents:
                stopped_by = "finished" if finals else "no_beams"
                break
            jobs: list[tuple[Node | None, list[str]]] = []
            for parent in parents:
                steps = parent.candidate.steps if parent is not None else root_steps[0]
                for _ in range(s.expand):
                    if calls + len(jobs) >= s.max_calls:
                        break
                    jobs.append((parent, steps))
            if not jobs:
                stopped_by = "max_calls"
                break
            outputs = await asyncio.gather(*(self._extend(question, steps, rng.randrange(2**31)) for _, steps in jobs))
            calls += len(jobs)
            fresh: list[tuple[Node | None, list[str], bool, str | None]] = []
            seen: set[tuple[int | None, str]] = set()
            for (parent, steps), output in zip(jobs, outputs, strict=True):
                if isinstance(output, BackendError):
                    raise output  # the generator is down: no search to report (the reward's failures are kept per node)
                text, reason = output
                step = text.strip()
                key = (parent.id if parent else None, step)
                if key in seen:
                    continue
                seen.add(key)
                done = not step or final_answer(step) is not None or reason not in ("stop", "length")
                new_steps = steps + [step] if step else list(steps)
                if not new_steps:
                    continue  # the generator wrote nothing at the root: nothing to score
                fresh.append((parent, new_steps, done, reason))
            texts = [s.step_join.join(st) for _, st, _, _ in fresh]
            candidates = await ascore_candidates(self.reward, question, texts, s.aggregate, [st for _, st, _, _ in fresh], reference, item_id)
            made = []
            for (parent, new_steps, done, reason), candidate in zip(fresh, candidates, strict=True):
                node = Node(len(nodes), parent.id if parent else None, depth, candidate, done, "finished" if done else "live", reason)
                nodes.append(node)
                made.append(node)
            for parent in parents:
                if parent is not None:
                    parent.status = "kept"
            finals += [n for n in made if n.finished]
            growing = sorted((n for n in made if not n.finished), key=_rank, reverse=True)
            live = growing[: s.width]
            for n in growing[s.width:]:
                n.status = "pruned"
            if len(finals) >= s.width:
                stopped_by = "finished"
                for n in live:
                    n.status = "pruned"
                live = []
                break
            if not live:
                stopped_by = "finished" if finals else "no_beams"
                break
        else:
            stopped_by = "max_depth"
        for n in live:
            n.status = "truncated"
        pool = finals + live
        ranked = sorted(pool, key=_rank, reverse=True)
        best_finished = sorted(finals, key=_rank, reverse=True)
        best = (best_finished or ranked or [None])[0]
        return BeamResult(question, best.candidate if best else None, finals + live, nodes, calls, stopped_by)
