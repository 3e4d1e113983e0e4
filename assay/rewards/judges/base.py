"""The one call path every LLM judge shares: options, prompt, backend call, reading the reply.

A judge (``judge``, ``pairwise_judge``, ``listwise_judge``, ``rubric``) is
:class:`JudgeCore` plus a Reward or Comparator base. What this module guarantees for all of
them, so that no judge repeats it:

- **one guarded backend call** (:meth:`JudgeCore._call`): a backend error or timeout becomes
  a ``backend`` / ``timeout`` failure, and so does a reply that is not a completion (a
  backend object that answered something else, or raised on a malformed body);
- **one guarded reading** (:meth:`JudgeCore._read`): a verdict parser that raises on a
  hostile reply (5,000 ``[`` in a row) is a ``parse`` failure of that item, with the raw
  text kept;
- **one conversation when the judge has tools** (:meth:`JudgeCore._converse`): with
  ``tools:`` in the options, the call is the bounded tool loop of
  :mod:`~assay.rewards.judges.tooluse` (every call through :meth:`JudgeCore._call`), and its
  transcript goes into the result (``details["tools"]``, ``meta["tools"]`` for a Preference),
  also when the result is a failure;
- **one failure per item** (:meth:`JudgeCore._each`): the items of a batch are judged
  concurrently, and an unexpected exception fails only its own item (``internal``), never
  the batch.

Not here: the prompts (``prompts/*.txt``, rendered by :mod:`~assay.rewards.judges.prompting`),
the verdict grammars (:mod:`~assay.rewards.judges.verdicts`) and the judges themselves
(:mod:`~assay.rewards.judges.pointwise`, :mod:`~assay.rewards.judges.pairwise`,
:mod:`~assay.rewards.judges.listwise`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import model_validator

from assay.backends.base import Backend, BackendError, Completion
from assay.backends.settings import BackendOptions, build_backend, sampling_params
from assay.reward import internal_failure
from assay.rewards.judges import prompting
from assay.rewards.judges.tooluse import ToolLoop, ToolUseOptions, Transcript
from assay.rewards.judges.verdicts import PARSER_VERSION, TokenReading, Verdict
from assay.text import prompt_text, reference_shown, text_of
from assay.types import Failure, Judgment, Pair, Preference, Sample

Result = TypeVar("Result", Judgment, Preference)


class JudgeOptions(BackendOptions, ToolUseOptions):
    """Backend settings, tools (``tools``, ``tool_protocol``, ... of
    :class:`~assay.rewards.judges.tooluse.ToolUseOptions`) and what every judge may add to its prompt."""

    use_reference: bool = True  # show the sample's reference answer to the judge, when there is one
    principle: str | None = None  # a natural-language principle to judge by; a sample's 'principle' field overrides it
    principle_field: str = "principle"
    harden: bool = True  # fence candidate text as data and tell the judge to ignore instructions in it
    prompt_file: str | None = None  # a custom prompt file (same placeholders as the packaged one)


class ScaleOptions(JudgeOptions):
    scale_min: float = 1
    scale_max: float = 10
    normalize: bool = True  # map the score to [0, 1]

    @model_validator(mode="after")
    def _check_scale(self) -> ScaleOptions:
        if self.scale_max <= self.scale_min:
            raise ValueError(f"scale_max ({self.scale_max:g}) must be above scale_min ({self.scale_min:g})")
        return self


def item_id(item: Sample | Pair, index: int | None = None) -> str:
    """A stable id for seeding: the item's ``id``, else a hash of its texts."""
    if getattr(item, "id", None) is not None:
        return str(item.id)
    if isinstance(item, Pair):
        blob = prompt_text(item.prompt) + "\0" + text_of(item.response_a) + "\0" + text_of(item.response_b)
    else:
        blob = prompt_text(item.prompt) + "\0" + text_of(item.response)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def shown_mass(mass: dict[str, float]) -> str:
    """Token probabilities for a rationale: ``P(7)=0.612, P(8)=0.301``."""
    return ", ".join(f"P({token})={p:.3f}" for token, p in mass.items())


def with_transcript(result: Result, transcript: Transcript | None) -> Result:
    """The result with its tool transcript: in ``details["tools"]`` of a Judgment, in
    ``meta["tools"]`` of a Preference (which has no details)."""
    if transcript is None:
        return result
    if isinstance(result, Judgment):
        result.details = {**(result.details or {}), "tools": transcript.to_dict()}
        result.meta.pop("tools", None)
    else:
        result.meta["tools"] = transcript.to_dict()
    return result


def call_failed(failure: Failure, result: type[Result], meta: dict[str, Any]) -> Result:
    """The result of an item whose judge call failed: the call's failure, kept as it is."""
    if result is Judgment:
        return Judgment(score=None, rationale=f"judge call failed: {failure.message}", failure=failure, meta=meta)  # type: ignore[return-value]
    return Preference(winner=None, rationale=f"judge call failed: {failure.message}", failure=failure, meta=meta)  # type: ignore[return-value]


class JudgeCore:
    """What the judges share: the constructor, the backend, the prompt, one guarded call.

    A judge is built as ``Judge(name=None, client=None, **options)``: the options are checked
    against the judge's ``Options`` model by the Reward / Comparator base (which comes after
    this mixin) and kept as ``self.options``; ``client`` is any backend object, else one is
    built from the options' backend settings.

    ``overrides`` (per item) lets wrappers such as ``Vote`` change sampling parameters
    (temperature, seed) per call without rebuilding the judge.
    """

    prompt_name: ClassVar[str] = ""
    # the option that switches to reading the verdict from the next token's top-k
    # ("score_by", "verdict_by"); set to "logprobs", the prompt is ``<prompt_name>_logprobs``
    by_logprobs_option: ClassVar[str] = ""
    options: Any  # a JudgeOptions (or another BackendOptions with use_reference and harden)

    def __init__(self, name: str | None = None, client: Backend | None = None, base_dir: Path | None = None, **options: Any) -> None:
        """``base_dir``: the folder relative paths of the options (a rubric file, a tool's
        documents or database) are read from first (a config file's folder)."""
        super().__init__(name, **options)  # type: ignore[call-arg]  # Reward or Comparator: validates the options
        self.base_dir = base_dir
        self.prompt = self.options.prompt_file or self._prompt_name(self.options)
        namespace = f"{self.prompt}:{prompting.prompt_version(self.prompt)}:parser{PARSER_VERSION}"
        tools = list(getattr(self.options, "tools", None) or [])
        if tools:
            namespace += f":tools={self._tool_namespace(tools)}"
        self.backend: Backend = client if client is not None else build_backend(self.options, namespace=namespace)
        self.tool_loop: ToolLoop | None = self._tool_loop(tools) if tools else None

    def _tool_namespace(self, tools: list[Any]) -> str:
        """What keys the request cache for a judge with tools: the tools, their options, the bounds."""
        o = self.options
        shown = [t if isinstance(t, (str, dict)) else getattr(t, "name", type(t).__name__) for t in tools]
        blob = json.dumps([shown, o.tool_protocol, o.max_tool_calls, o.max_tool_result_chars], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def _tool_loop(self, tools: list[Any]) -> ToolLoop:
        """The tools built once (a search index here), and the loop that lets the judge call them."""
        from assay.rewards.judges.tools.base import build_tools

        if self.by_logprobs_option and getattr(self.options, self.by_logprobs_option, "text") == "logprobs":
            raise ValueError(f"{self.by_logprobs_option}: logprobs reads one token and cannot call tools; use {self.by_logprobs_option}: text with tools")
        if self.options.tool_protocol == "openai" and getattr(self.options, "mode", "chat") == "completions":
            raise ValueError("tool_protocol: openai needs mode: chat (tool calls are a chat API); use tool_protocol: text with mode: completions")
        try:
            built = build_tools(tools, self.base_dir)
        except ValueError as error:
            raise ValueError(f"judge {getattr(self, 'name', '')!r}: {error}") from None
        return ToolLoop(built, self.options, self.backend)

    def close_tools(self) -> None:
        """Stop the tools' worker processes (also done at interpreter exit)."""
        for tool in (self.tool_loop.tools.values() if self.tool_loop else ()):
            close = getattr(tool, "close", None)
            if close is not None:
                close()

    async def _converse(self, messages: list[dict[str, Any]], overrides: dict[str, Any] | None = None) -> tuple[Completion | Failure, Transcript | None]:
        """The judge's call: one backend call, or (with tools) the bounded tool loop whose
        last completion holds the verdict; the transcript is None without tools."""
        if self.tool_loop is None:
            return await self._call(messages, overrides), None
        return await self.tool_loop.converse(self._call, messages, overrides, self.options.stop)

    async def _call(self, messages: list[dict[str, Any]], overrides: dict[str, Any] | None = None) -> Completion | Failure:
        """The judge's one backend call: a completion, or a typed failure (``backend``,
        ``timeout``); a reply that is not a completion with text is a ``backend`` failure."""
        params = {**sampling_params(self.options), **(overrides or {})}
        try:
            completion = await self.backend.complete(messages, **params)
        except BackendError as error:
            return Failure(error.kind, str(error), error.body)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            return Failure("timeout", f"the judge backend did not answer within {self.options.timeout:g}s")
        if not isinstance(completion, Completion) or not isinstance(completion.text, str):
            what = type(completion).__name__ if not isinstance(completion, Completion) else f"a completion whose text is {type(completion.text).__name__}"
            return Failure("backend", f"the judge backend answered {what}, not a completion with text")
        return completion

    @staticmethod
    def _read(parse: Callable[[str], Verdict | Failure], text: str) -> Verdict | Failure:
        """``parse(text)``, where a parser that raises on the reply (a hostile text) is a
        ``parse`` failure of this item with the raw text kept, not a crash of the batch."""
        try:
            return parse(text)
        except Exception as error:  # noqa: BLE001 - the reply is data: any crash reading it is a parse failure
            return Failure("parse", f"the verdict parser could not read this reply ({type(error).__name__}: {str(error)[:200]})", text)

    async def _verdict(
        self, messages: list[dict[str, Any]], overrides: dict[str, Any] | None, parse: Callable[[str], Verdict | Failure],
        result: type[Result], what: str, **meta: Any,
    ) -> tuple[Completion, Verdict, dict[str, Any]] | Result:
        """The call and the reading of a judge that writes its verdict as text: the
        completion, the verdict and the meta, or the item's failed result (the call's failure,
        or a ``parse`` failure: "could not read {what} from the judge", raw text kept)."""
        completion, transcript = await self._converse(messages, overrides)
        if isinstance(completion, Failure):
            return with_transcript(call_failed(completion, result, self._meta(None)), transcript)
        verdict = self._read(parse, completion.text)
        meta = self._meta(completion, **meta)
        if transcript is not None:  # the usage of every call of the conversation
            meta.update(usage=transcript.usage, tool_calls=transcript.calls)
        if isinstance(verdict, Failure):
            message = f"could not read {what} from the judge: {verdict.message}"
            if transcript is not None and transcript.stopped == "asked_after_limit":
                message = f"could not read {what} from the judge, which asked for another tool call after its limit ({transcript.calls} call{'s' if transcript.calls != 1 else ''}): {verdict.message}"
            return with_transcript(result.fail("parse", message, raw=completion.text, **meta), transcript)  # type: ignore[return-value]
        if transcript is not None:
            meta["tools"] = transcript  # the judge puts it in details (a Judgment) or meta (a Preference)
        return completion, verdict, meta

    async def _token_reading(
        self, messages: list[dict[str, Any]], overrides: dict[str, Any] | None, read: Callable[[Any], TokenReading | Failure],
        result: type[Result], what: str, **meta: Any,
    ) -> tuple[Completion, TokenReading, dict[str, Any]] | Result:
        """The call and the reading of a judge that reads its verdict from the next token's
        top-k (``score_by`` / ``verdict_by: logprobs``): one generated token, then ``read`` over
        its logprobs; a failure is the item's result ("could not read {what} from the token
        probabilities" for a ``parse`` one)."""
        completion = await self._call(messages, self._next_token_params(overrides))
        if isinstance(completion, Failure):
            return call_failed(completion, result, self._meta(None, **meta))
        meta = self._meta(completion, **meta)
        try:
            reading = read(completion.logprobs)
        except Exception as error:  # noqa: BLE001 - the logprobs are data, like a reply's text
            reading = Failure("parse", f"the token probabilities could not be read ({type(error).__name__}: {error})")
        if isinstance(reading, Failure):
            how = f"read {what} from the token probabilities" if reading.kind == "parse" else f"judge by logprobs ({what})"
            return result.fail(reading.kind, f"could not {how}: {reading.message}", raw=reading.raw or completion.text, **meta)  # type: ignore[return-value]
        return completion, reading, meta

    @staticmethod
    async def _each(items: Sequence[Any], overrides: Sequence[dict[str, Any] | None] | None, judge: Callable[[Any, dict[str, Any] | None], Awaitable[Result]], result: type[Result]) -> list[Result]:
        """``judge(item, override)`` for every item, concurrently; an exception fails only its item."""

        async def one(item: Any, override: dict[str, Any] | None) -> Result:
            try:
                return await judge(item, override)
            except Exception as error:  # noqa: BLE001 - one item's bug must not fail the batch
                failed = internal_failure(error)
                return failed if result is Judgment else Preference.fail("internal", failed.rationale, raw=failed.failure.raw)  # type: ignore[return-value,union-attr]

        overrides = overrides or [None] * len(items)
        return list(await asyncio.gather(*(one(item, o) for item, o in zip(items, overrides, strict=True))))

    def _prompt_name(self, options: JudgeOptions) -> str:
        by_logprobs = bool(self.by_logprobs_option) and getattr(options, self.by_logprobs_option, "text") == "logprobs"
        return f"{self.prompt_name}_logprobs" if by_logprobs else self.prompt_name

    def _cue_messages(self, system: str, user: str, suffix: str = "") -> list[dict[str, str]]:
        """Messages for a prompt that ends right before the verdict (logprob modes).

        With ``mode: completions`` the system and user texts are sent as one prompt that ends
        exactly at the cue (several messages would be joined with role labels and a trailing
        ``assistant:``); ``suffix`` is appended to the cue (a space before a score: Gemma,
        Llama 3, Qwen and OpenAI's tokenizers write the space before a number as its own
        token, so the next token is then the digit itself).
        """
        user = user.rstrip() + suffix
        if getattr(self.options, "mode", "chat") == "completions":
            return [{"role": "user", "content": f"{system}\n\n{user}" if system else user}]
        return prompting.messages(system, user)

    def _next_token_params(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """One generated token with its top-k alternatives (``top_logprobs``, default 10)."""
        return {**(overrides or {}), "max_tokens": 1, "logprobs": True, "top_logprobs": self.options.top_logprobs or 10}

    def _texts(self, item: Sample | Pair) -> dict[str, str]:
        """question, reference, principle blocks shared by every prompt."""
        o = self.options
        harden = o.harden
        values = {"guard": prompting.GUARD if harden else "", "question": prompting.fence("question", prompt_text(item.prompt) or "(no question given)", harden)}
        reference = reference_shown(item.reference) if o.use_reference else ""
        if reference:
            values["reference"] = prompting.fence("reference_answer", reference, harden)
            values["reference_clause"] = ", comparing against the reference answer (which is known to be correct)"
        else:
            values["reference"] = ""
            values["reference_clause"] = ""
        principle_field = getattr(o, "principle_field", None)
        principle = ((item.extra or {}).get(principle_field) if principle_field else None) or getattr(o, "principle", None)
        if principle:
            values["principle"] = f"Judge according to this principle, which takes precedence over general notions of quality:\n{prompting.fence('principle', str(principle), harden)}\n\n"
            values["principle_clause"] = " according to the principle"
        else:
            values["principle"] = ""
            values["principle_clause"] = ""
        return values

    def _meta(self, completion: Completion | None, **extra: Any) -> dict[str, Any]:
        meta = completion.meta() if completion is not None else {"model": getattr(self.backend, "model", "")}
        meta.update({k: v for k, v in extra.items() if v is not None})
        return meta
