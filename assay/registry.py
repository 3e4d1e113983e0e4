"""The registry of reward and comparator types: one visible dict, type name -> where it lives.

Entries are import paths, loaded on first use, so ``import assay`` stays light and a reward
that needs torch imports it only when a config asks for it. Third-party packages add types
through the ``assay.rewards`` entry-point group:

    [project.entry-points."assay.rewards"]
    my_reward = "my_package.rewards:MyReward"

    >>> from assay.registry import reward_class
    >>> reward_class("exact_match").__name__
    'ExactMatch'

``build_reward(type_name, name, options)`` constructs a registered type from the options a
config entry gives it, so a reward that holds another reward (``process``'s step reward)
builds it the way a config does, without reaching up into the config builder.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assay.spec import ConfigError, explain


@dataclass(frozen=True)
class Entry:
    target: str  # "module:Class"
    summary: str  # one line for `assay list`
    family: str
    extra: str = ""  # the pip extra it needs, if any


REWARD_TYPES: dict[str, Entry] = {
    # verifiable rules
    "math": Entry("assay.rewards.math.reward:MathReward", "math answer equivalence with math-verify, in a killable process pool", "verifiable"),
    "exact_match": Entry("assay.rewards.rules.match:ExactMatch", "response (or its extracted answer) equals the reference, optionally normalised", "verifiable"),
    "f1": Entry("assay.rewards.rules.match:TokenF1", "token-level F1 against the reference (SQuAD-style normalisation)", "verifiable"),
    "choice": Entry("assay.rewards.rules.match:ChoiceMatch", "multiple-choice letter in the response equals the reference letter", "verifiable"),
    "regex": Entry("assay.rewards.rules.format:RegexMatch", "1 when the response matches a regular expression, else 0", "verifiable"),
    "tag_format": Entry("assay.rewards.rules.format:TagFormat", "response follows a tag layout such as <think>...</think><answer>...</answer>", "verifiable"),
    "length_penalty": Entry("assay.rewards.rules.length:LengthPenalty", "penalty for responses longer than a token budget (linear beyond it)", "verifiable"),
    "overlong": Entry("assay.rewards.rules.length:OverlongPenalty", "DAPO soft overlong punishment: 0 up to max-buffer, linear to -1 at max", "verifiable"),
    "repetition": Entry("assay.rewards.rules.repetition:RepetitionPenalty", "penalty for repeated n-grams in the response", "verifiable"),
    "bleu": Entry("assay.rewards.rules.overlap:Bleu", "sentence BLEU against the reference (sacrebleu), in [0, 1]", "verifiable"),
    "chrf": Entry("assay.rewards.rules.overlap:ChrF", "chrF against the reference (sacrebleu), in [0, 1]", "verifiable"),
    "rouge": Entry("assay.rewards.rules.overlap:Rouge", "ROUGE F-measure against the reference (rouge-score)", "verifiable"),
    "json_valid": Entry("assay.rewards.rules.json_format:JsonValid", "1 when the response (or its fenced block) is valid JSON", "verifiable"),
    "json_schema": Entry("assay.rewards.rules.json_format:JsonSchema", "1 when the response's JSON conforms to a JSON schema (jsonschema)", "verifiable"),
    "cosine_length": Entry("assay.rewards.rules.cosine_length:CosineLength", "length-aware accuracy: a correctness reward scaled by length on a cosine (TRL's get_cosine_scaled_reward)", "verifiable"),
    "tool_call": Entry("assay.rewards.rules.tool_call:ToolCallMatch", "tool calls match the reference: name match and argument F1 (ToolRL-style)", "verifiable"),
    "constraints": Entry("assay.rewards.rules.constraints.reward:Constraints", "IFEval/IFBench-style verifiable instructions per sample (word counts, keywords, format, "
        "case, language...): fraction met or all", "verifiable", "ifeval"),
    # SQL on SQLite
    "sql": Entry("assay.rewards.sql.reward:SqlExecution", "execution accuracy on SQLite (Spider/BIRD): predicted vs gold query results, read-only, bounded workers", "sql"),
    "sql_syntax": Entry("assay.rewards.sql.partial:SqlSyntax", "1 when the predicted query compiles (the database's EXPLAIN) or parses (sqlglot, sqlite dialect)", "sql", "sql"),
    "sql_schema_linking": Entry("assay.rewards.sql.partial:SqlSchemaLinking", "Jaccard of the tables and columns referenced by predicted and gold query (sqlglot), Reasoning-SQL", "sql", "sql"),
    "sql_ngram": Entry("assay.rewards.sql.partial:SqlNgram", "Jaccard of the token n-grams of predicted and gold query, Reasoning-SQL", "sql"),
    "function": Entry("assay.rewards.function:ImportedFunction", "your own function f(response, reference, **fields) -> float | (float, str), from file.py:name or module:name", "custom"),
    "process": Entry("assay.rewards.process.steps:ProcessReward", "per-step scores from any reward, aggregated (min/mean/last/product), first error located", "process"),
    "step_arithmetic": Entry("assay.rewards.process.arithmetic:StepArithmetic", "checks the arithmetic a step asserts (GSM8K <<a-b=c>> annotations, a op b = c chains, "
        "LaTeX), exactly; abstains with no claim", "process"),
    "prm": Entry("assay.rewards.process.prm:StepRewardModel", "a step-level reward model (token classification at separators, tag-token logits, or prefix classifier), "
        "one pass per solution", "process", "models"),
    "step_judge": Entry("assay.rewards.process.judge:StepJudge", "an LLM judge of a solution's steps: the earliest wrong step (ProcessBench critique protocol) or a verdict per step", "process"),
    # code, run in a sandbox
    "code": Entry("assay.rewards.code.reward:CodeReward", "the response's program passes the sample's tests (assert, stdin/stdout, pytest), run in a sandbox", "code"),
    # confidence and calibration
    "stated_confidence": Entry("assay.rewards.calibration.stated:StatedConfidence", "the confidence a response states (<confidence>0.8</confidence>, 'Confidence: 80%', "
        "'I am 70% sure'), as a probability", "calibration"),
    "calibration_brier": Entry("assay.rewards.calibration.reward:BrierCalibration", "RLCR: correctness (any nested reward) minus (stated confidence - correctness)^2", "calibration"),
    "calibration_log": Entry("assay.rewards.calibration.reward:LogCalibration", "correctness (any nested reward) plus the log score of the stated confidence", "calibration"),
    # model-based, local
    "semantic": Entry("assay.rewards.models.semantic:SemanticSimilarity", "cosine similarity to the reference with a sentence encoder (MiniLM by default)", "model", "models"),
    "diversity": Entry("assay.rewards.models.semantic:GroupDiversity", "mean dissimilarity of a response to the other responses of its group", "model", "models"),
    "likelihood": Entry("assay.rewards.models.likelihood:ReferenceLikelihood", "log p(reference | prompt, response) under a causal LM (Gemma-3-270M by default)", "model", "models"),
    "follow_up": Entry("assay.rewards.models.likelihood:FollowUpLikelihood", "log p(user follow-up | dialogue, response) under a causal LM", "model", "models"),
    "pmi": Entry("assay.rewards.models.pmi:PromptResponsePMI", "log p(response | prompt) - log p(response) per token under a causal LM: does the response answer this prompt", "model", "models"),
    "classifier": Entry("assay.rewards.models.classifier:SequenceClassifierReward", "a Hugging Face sequence-classification reward model (one logit)", "model", "models"),
    "embedding_head": Entry("assay.rewards.models.classifier:EmbeddingHeadReward", "a frozen sentence encoder plus a small trained head", "model", "models"),
    # LLM judges
    "judge": Entry("assay.rewards.judges.pointwise:PointwiseJudge", "an LLM judge that writes a critique, then a score on a scale", "judge"),
    "listwise_judge": Entry("assay.rewards.judges.listwise:ListwiseJudge", "an LLM judge that scores and ranks a group's responses together", "judge"),
    "pairwise_tournament": Entry("assay.rewards.judges.tournament:PairwiseTournament", "pairwise judge verdicts within a group turned into per-response rewards", "judge"),
    "verdict_match": Entry("assay.rewards.judges.verdict_match:VerdictMatch", "a pairwise verdict in the response ([[A]] / [[B]], the judges' parser) graded against the "
        "sample's label: what assay train genrm rewards", "judge"),
    "rubric": Entry("assay.rewards.judges.rubric:RubricReward", "per-criterion verdicts against a rubric, weighted; hard rules can veto", "judge"),
    # served elsewhere
    "remote": Entry("assay.rewards.remote:RemoteReward", "the rewards of an assay server (assay serve), scored over HTTP with bounded retries", "remote"),
    "verifiers": Entry("assay.rewards.verifiers:VerifiersReward", "the rubric of a verifiers (prime-rl) task: its weighted @vf.reward methods and plugged reward functions", "remote", "verifiers"),
    "ors": Entry("assay.rewards.ors:ORSReward", "the reward of an Open Reward Standard environment (openreward SDK): a server's or an in-process class's grading tool", "remote", "ors"),
}

COMPARATOR_TYPES: dict[str, Entry] = {
    "pairwise_judge": Entry("assay.rewards.judges.pairwise:PairwiseJudge", "an LLM judge that writes a critique, then A, B or tie", "judge"),
    "function": Entry("assay.rewards.function:FunctionComparator", "your function f(prompt, response_a, response_b, **fields) -> a/b/tie, or saved verdicts replayed from a file", "custom"),
}

_loaded_plugins = False


def _load_plugins() -> None:
    """Add third-party reward types from the ``assay.rewards`` entry-point group (once)."""
    global _loaded_plugins
    if _loaded_plugins:
        return
    _loaded_plugins = True
    for ep in entry_points(group="assay.rewards"):
        REWARD_TYPES.setdefault(ep.name, Entry(ep.value, f"plugin from {ep.dist.name if ep.dist else ep.value}", "plugin"))


def _load(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def reward_class(type_name: str) -> Any:
    """The class registered for a reward type; a clear error naming the known types otherwise."""
    _load_plugins()
    entry = REWARD_TYPES.get(type_name)
    if entry is None:
        raise KeyError(f"unknown reward type {type_name!r}; known types: {', '.join(sorted(REWARD_TYPES))}")
    try:
        return _load(entry.target)
    except ImportError as error:
        hint = f" (pip install 'assay[{entry.extra}]')" if entry.extra else ""
        raise ImportError(f"reward type {type_name!r} needs {error.name or 'a missing package'}{hint}") from error


def comparator_class(type_name: str) -> Any:
    entry = COMPARATOR_TYPES.get(type_name)
    if entry is None:
        raise KeyError(f"unknown comparator type {type_name!r}; known types: {', '.join(sorted(COMPARATOR_TYPES))}")
    return _load(entry.target)


def all_types() -> dict[str, Entry]:
    """Every reward and comparator type, for ``assay list``."""
    _load_plugins()
    return {**REWARD_TYPES, **COMPARATOR_TYPES}


def build_reward(type_name: str, name: str, options: dict[str, Any], base_dir: Path | None = None) -> Any:
    """Construct one registered reward type from its options, checked against its Options model;
    a ConfigError naming ``rewards.NAME`` otherwise."""
    try:
        cls = reward_class(type_name)
    except KeyError as error:
        raise ConfigError(f"rewards.{name}.type: {error.args[0]}") from None
    return construct(cls, name, options, base_dir, f"rewards.{name}")


def construct(cls: Any, name: str, options: dict[str, Any], base_dir: Path | None, where: str) -> Any:
    """``cls(name=..., **options)``: the type's constructor checks the options against its
    Options model (once); a bad key or value becomes a ConfigError that names ``where``.
    A type whose constructor takes ``base_dir`` gets the folder relative files are read from."""
    kwargs = dict(options)
    if base_dir is not None and "base_dir" in inspect.signature(cls.__init__).parameters:
        kwargs["base_dir"] = base_dir
    try:
        return cls(name=name, **kwargs)
    except ValidationError as error:
        raise ConfigError(explain(error, None, where).replace("config: ", "")) from None
