"""verifiers (0.4.0, PrimeIntellect-ai/verifiers, as prime-rl uses it) both ways, through its
own ``Task.score``: an assay config plugged into a verifiers task's config as a reward and
as metrics (``TaskConfig.rewards`` / ``metrics``, loaded by verifiers' own loader from an
import path), and a verifiers task's rubric (its ``@vf.reward`` methods, or plugged reward
functions) as the assay reward ``type: verifiers``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

vf = pytest.importorskip("verifiers.v1", reason="verifiers is not importable here (scripts/setup.sh all installs it)")

from verifiers.v1.trace import AgentInfo, Trace, TraceTask  # noqa: E402

from assay.compose.load import load_reward  # noqa: E402
from assay.integrations import verifiers as assay_vf  # noqa: E402
from assay.types import Sample  # noqa: E402

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
TASKS = Path(__file__).resolve().parent / "vf_tasks.py"


def config() -> dict:
    return {
        "rewards": {
            "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
            "size": {"type": "function", "path": f"{FUNCS}:length", "weight": 0.0},
        }
    }


class QA(vf.TaskData):
    answer: str
    topic: str = "arithmetic"


def trace_for(data, reply: str) -> Trace:
    nodes = [vf.MessageNode(message=vf.UserMessage(content=data.prompt)), vf.MessageNode(parent=0, message=vf.AssistantMessage(content=reply), sampled=True)]
    return Trace(task=TraceTask(type="Task", data=data), agent=AgentInfo(config=vf.AgentConfig()), nodes=nodes)


def test_assay_config_as_a_verifiers_reward_and_metrics(tmp_path, monkeypatch):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    task_config = vf.TaskConfig(rewards={"assay": {"fn": "assay.integrations.verifiers:reward", "weight": 2.0}},
                                metrics={"assay": {"fn": "assay.integrations.verifiers:metrics"}})
    data = QA(prompt="2+2?", answer="4")
    task = vf.Task(data, task_config)

    right = trace_for(data, "4")
    asyncio.run(task.score(right))  # verifiers' own scoring: loads the plugged functions by path
    assert right.rewards["assay"].score == 1.0 and right.rewards["assay"].weight == 2.0 and right.reward == 2.0
    assert right.metrics == {"assay/failed": 0.0, "assay/risky": 1.0, "assay/size": 1.0}
    assert right.info["assay"]["judgment"]["score"] == 1.0  # scored once: the reward reused the metrics' judgment

    wrong = trace_for(data, "5")
    asyncio.run(task.score(wrong))
    assert wrong.rewards["assay"].score == 0.0 and wrong.metrics["assay/risky"] == 0.0

    failed = trace_for(data, "raise")
    with pytest.raises(vf.TaskError, match="assay internal"):
        asyncio.run(task.score(failed))
    assert failed.rewards["assay"] is None  # verifiers' "not scored", never a number
    assert failed.metrics == {"assay/failed": 1.0, "assay/size": 5.0}  # the failed component is absent, not 0
    assert "Traceback" not in json.dumps(failed.info["assay"])

    grouped = tmp_path / "grouped.yaml"
    grouped.write_text(json.dumps(config() | {"combine": {"normalize": "group_zscore"}}))
    alone = trace_for(data, "4")
    with pytest.raises(vf.TaskError, match="assay input"):
        asyncio.run(_score_with(assay_vf.make_reward(str(grouped)), data, alone))

    sample = assay_vf.task_sample(QA(prompt="2+2?", answer="4", system_prompt="Be brief."), right)
    assert sample.reference == "4" and sample.get("topic") == "arithmetic" and sample.response == "4"
    assert sample.prompt == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]


async def _score_with(fn, data, trace):
    """``fn`` as a task's one @vf.reward method, scored by verifiers' Task.score."""

    class Plugged(vf.Task):
        @vf.reward
        async def assay(self, task, trace) -> float:
            return await fn(task, trace)

    await Plugged(data).score(trace)


def test_verifiers_task_rubric_as_an_assay_reward():
    rubric = load_reward({"rewards": {"vf": {"type": "verifiers", "task": f"{TASKS}:MathTask"}}})
    samples = [Sample(prompt="2+2?", response="4", reference="4"), Sample(prompt="2+2?", response="five", reference="4"),
               Sample(prompt="2+2?", response="crash", reference="4"), Sample(prompt="2+2?", response="4")]
    right, wrong, crashed, no_answer = [j.details["vf"] for j in rubric.score(samples)]
    assert right.score == 1.5 and right.details["correct"].score == 1.0 and right.details["brief"].meta["weight"] == 0.5
    assert right.meta["metrics"] == {"length": 1.0} and "1*correct(1)" in right.rationale
    assert wrong.score == 0.0
    assert crashed.failure.kind == "backend" and "the checker crashed" in crashed.rationale
    assert no_answer.failure.kind == "input" and "answer" in no_answer.rationale  # MathData needs an answer

    plugged = load_reward({"rewards": {"vf": {"type": "verifiers", "task": f"{TASKS}:MathTask", "reference_field": "answer",
                                              "rewards": {"correct": {"fn": f"{TASKS}:exact", "weight": 2.0}}}}})
    (j,) = plugged.score([Sample(prompt="2+2?", response="4", reference="4")])
    assert j.details["vf"].score == 2.5  # verifiers' plugged function replaced the decorated one of that name


def test_refused_when_built():
    from assay.spec import ConfigError

    with pytest.raises((ConfigError, ValueError), match="runtime"):
        load_reward({"rewards": {"vf": {"type": "verifiers", "task": f"{TASKS}:SandboxTask"}}})
    with pytest.raises((ConfigError, ValueError), match="task"):
        load_reward({"rewards": {"vf": {"type": "verifiers"}}})
    with pytest.raises((ConfigError, ValueError), match="not a verifiers Task"):
        load_reward({"rewards": {"vf": {"type": "verifiers", "task": f"{TASKS}:exact"}}})
