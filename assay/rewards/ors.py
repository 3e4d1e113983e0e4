"""``ors``: the reward of an Open Reward Standard environment (the ``openreward`` SDK).

Why: environments published to the Open Reward Standard (served by ``openreward``'s
``Server``, on the OpenReward platform or your own host) grade a policy's answer with their
own tools. This reward sends each sample's response to such an environment and reads the
reward back, so an ORS environment composes with assay's other rewards, gates and
normalisation like any component.

For each sample a session is opened on the environment for the sample's task, the response is
sent to the environment's terminal tool (or the tool named by ``tool``, with the response as
its ``argument`` field) and the ``ToolOutput``'s ``reward`` is the score; its text blocks are
the rationale. The task is the sample field ``task`` (a task spec object, as the environment
lists it) or the fields ``split`` and ``index`` (a task the environment lists).

    rewards:
      env: {type: ors, url: "http://env-host:8080", environment: myenv}
      local: {type: ors, environment_class: "my_envs.py:MyEnv"}   # in-process, no server

What comes back, and what it becomes: a reward -> the score (a non-finite one is refused by
the base class); ``reward: None`` -> abstained (the environment gave no reward); a tool error
(``RunToolError``: not found, bad input, finished) -> ``input``; a connection or server error
-> ``backend``; no answer within ``timeout`` -> ``timeout``. Never a made-up 0.

Not here: multi-turn episodes (tools other than the grading one are not called); use ORS's own
harness for agentic rollouts and this reward for the final grade. Needs ``pip install
'assay[ors]'``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.function import import_function
from assay.types import Judgment, Sample


def load_class(spec: str) -> Any:
    """``module:Class`` or ``path/to/file.py:Class`` -> the class (assay's one importer)."""
    try:
        return import_function(spec)
    except (ValueError, FileNotFoundError, AttributeError, ImportError, TypeError) as error:
        raise ValueError(f"cannot load {spec!r}: {error}") from None


def _blocks_text(blocks: Any) -> str:
    return "\n".join(str(getattr(b, "text", "")) for b in blocks or [] if getattr(b, "type", "text") == "text").strip()


class ORSReward(Reward):
    """An ORS environment's reward for each sample; see the module docstring."""

    type_name: ClassVar[str] = "ors"

    class Options(BaseOptions):
        url: str | None = None  # an ORS environment server, e.g. http://env-host:8080
        environment: str | None = None  # the environment's name on that server (default: the server's first)
        environment_class: str | None = None  # or an Environment class run in-process: "module:Class" / "file.py:Class"
        tool: str | None = None  # the grading tool; default: the environment's terminal tool
        argument: str = "answer"  # with ``tool``: the field of its input that receives the response
        task_field: str = "task"  # the sample field with the task spec; else the fields split and index
        api_key_env: str | None = None  # environment variable with an OpenReward API key (hosted environments)
        timeout: float = Field(120.0, gt=0)  # seconds per sample (session, call, close)
        concurrency: int = Field(8, ge=1)  # sessions at once

        @field_validator("url")
        @classmethod
        def _http_url(cls, url: str | None) -> str | None:
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"url must start with http:// or https://, got {url!r}")
            return url.rstrip("/") if url else url

        @model_validator(mode="after")
        def _one_place(self) -> ORSReward.Options:
            if (self.url is None) == (self.environment_class is None):
                raise ValueError("give either url (an ORS server) or environment_class (in-process), not both or neither")
            return self

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        try:
            import openreward  # noqa: F401 - checked here, used in the scoring calls
        except ImportError as error:
            raise ImportError(f"type: ors needs the openreward SDK ({error}); pip install 'assay[ors]'") from None
        self.environment_class = load_class(self.options.environment_class) if self.options.environment_class else None
        self.api_key = ""
        if self.options.api_key_env:
            key = os.environ.get(self.options.api_key_env)
            if key is None:
                raise ValueError(f"api_key_env names {self.options.api_key_env!r}, which is not set in the environment")
            self.api_key = key

    # --- the task of a sample ---------------------------------------------------------------
    def _task(self, sample: Sample) -> tuple[dict[str, Any] | None, str | None, int | None]:
        spec = sample.get(self.options.task_field)
        if isinstance(spec, dict):
            return spec, None, None
        split, index = sample.get("split"), sample.get("index")
        if isinstance(split, str) and isinstance(index, int) and not isinstance(index, bool):
            return None, split, index
        raise ValueError(f"the sample has no task: give a {self.options.task_field!r} object, or 'split' (text) and 'index' (an integer)")

    def _tool_input(self, term: Any, response: str) -> tuple[str, dict[str, Any]]:
        if self.options.tool:
            return self.options.tool, {self.options.argument: response}
        if term is None:
            raise LookupError("the environment has no terminal tool; name the grading tool with 'tool'")
        return term.name, ({} if term.arg is None else {term.arg: response})

    # --- scoring ------------------------------------------------------------------------------
    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        limit = asyncio.Semaphore(self.options.concurrency)
        if self.environment_class is not None:
            return list(await asyncio.gather(*(self._bounded(limit, self._local, s) for s in samples)))
        from openreward.api.environments.client import AsyncEnvironmentsAPI

        api = AsyncEnvironmentsAPI(base_url=self.options.url, api_key=self.api_key)  # type: ignore[arg-type]
        try:
            env = api.get(self.options.environment) if self.options.environment else None
            if env is None:
                raise ValueError("environment: name the environment on the server")
            return list(await asyncio.gather(*(self._bounded(limit, self._remote, s, env) for s in samples)))
        finally:
            await api.aclose()

    async def _bounded(self, limit: asyncio.Semaphore, how: Any, sample: Sample, *args: Any) -> Judgment:
        async with limit:
            try:
                return await asyncio.wait_for(how(sample, *args), self.options.timeout)
            except asyncio.TimeoutError:
                return Judgment.fail("timeout", f"the ORS environment did not answer within {self.options.timeout:g} s")
            except (ValueError, LookupError) as error:
                return Judgment.fail("input", f"{type(error).__name__}: {error}")
            except Exception as error:  # noqa: BLE001 - transport, server and environment errors are the backend's
                return Judgment.fail("backend", f"the ORS environment failed: {type(error).__name__}: {error}")

    async def _remote(self, sample: Sample, env: Any) -> Judgment:
        from openreward.api.environments.types import Task
        from openreward.api.errors import ToolCallError

        spec, split, index = self._task(sample)
        if spec is not None:
            task = Task(server_name=env.deployment_name, environment_name=env.name, task_spec=spec, namespace=env.namespace)
            session = env.session(task=task)
        else:
            session = env.session(split=split, index=index)
        async with session:
            name, args = self._tool_input(await session.terminal_tool() if not self.options.tool else None, sample.response_text)
            try:
                output = await session.call_tool(name, args)
            except ToolCallError as error:  # the environment refused the call (not found, bad input, finished)
                return Judgment.fail("input", f"the environment refused tool {name!r}: {error}")
        return self._judgment(output)

    async def _local(self, sample: Sample) -> Judgment:
        from openreward.environments.types import RunToolError
        from openreward.environments.utils import run_user_callable

        spec, split, index = self._task(sample)
        cls = self.environment_class
        if spec is None:
            spec = await cls.get_task(split, index)  # type: ignore[union-attr]
        env = cls(task_spec=spec)  # type: ignore[misc]
        await run_user_callable(env.setup)
        try:
            name, args = self._tool_input(cls.list_tools().terminal_tool if not self.options.tool else None, sample.response_text)  # type: ignore[union-attr]
            result = (await env._call_tool(name, args)).root
        finally:
            await run_user_callable(env.teardown)
        if isinstance(result, RunToolError):
            return Judgment.fail("input", f"the environment refused tool {name!r} ({result.reason or 'error'}): {result.error}")
        return self._judgment(result.output)

    def _judgment(self, output: Any) -> Judgment:
        text = _blocks_text(output.blocks)
        meta = {"ors_metadata": output.metadata} if output.metadata else {}
        if output.reward is None:
            return Judgment(score=None, rationale=f"the environment gave no reward{': ' + text if text else ''}", meta=meta)
        return Judgment(score=float(output.reward), rationale=text or f"the environment's reward: {output.reward:g}", meta=meta)


__all__ = ["ORSReward", "load_class"]
