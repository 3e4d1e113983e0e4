"""A small verifiers 0.4 task for the ``type: verifiers`` tests, written the way verifiers'
own ``vf init`` template writes one: a ``TaskData`` row type, and a ``Task`` with weighted
``@vf.reward`` methods and a ``@vf.metric``. ``correct`` raises for the reply ``crash``."""

import verifiers.v1 as vf


class MathData(vf.TaskData):
    answer: str


class MathTask(vf.Task[MathData]):
    @vf.reward(weight=1.0)
    async def correct(self, task, trace) -> float:
        if trace.last_reply == "crash":
            raise ValueError("the checker crashed")
        return float(trace.last_reply == task.answer)

    @vf.reward(weight=0.5)
    async def brief(self, trace) -> float:
        return float(len(trace.last_reply) <= 3)

    @vf.metric
    async def length(self, trace) -> float:
        return float(len(trace.last_reply))


async def exact(task, trace) -> float:
    """A plain (async) reward function, to plug by name (TaskConfig.rewards)."""
    return float(trace.last_reply.strip() == getattr(task, "answer", None))


class SandboxTask(vf.Task[MathData]):
    @vf.reward
    async def tests_pass(self, trace, runtime) -> float:
        return 1.0
