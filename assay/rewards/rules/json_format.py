"""JSON rewards: the response is valid JSON (``json_valid``), and it conforms to a JSON Schema
(``json_schema``, with jsonschema).

Where the JSON is read (``extract``): ``auto`` takes the last fenced block (```` ```json ````
preferred, else a bare ```` ``` ````) when there is one, else the whole response; ``whole``
the whole response (stripped); ``fenced`` only a fenced block (none found scores 0).
``NaN`` and ``Infinity`` are not JSON and are rejected.

Bounds (see docs/reliability.md): the first ``max_chars`` characters are read (the rationale
says when a response was cut); JSON nested deeper than ``JSON_MAX_DEPTH`` levels is not read
(RFC 8259 lets a parser limit nesting) and scores 0 saying so. ``json_schema`` never fetches
anything: a ``$ref`` that is not inside the schema itself is an ``input`` failure, as are a
schema over ``max_schema_chars``, a recursive ``$ref`` and a bad schema; schema patterns run
under a time limit and the whole validation under ``timeout_seconds`` (a ``timeout``
failure past them).

    >>> from assay.types import Sample
    >>> JsonValid().score([Sample(response='Here: ```json\\n{"a": 1}\\n```')])[0].rationale
    'valid JSON (an object with 1 key) read from the ```json fenced block'
    >>> JsonSchema(schema={"type": "object", "required": ["a"]}).score([Sample(response='{"b": 2}')])[0].rationale
    "JSON from the whole response does not conform to the schema (1 error): at $: 'a' is a required property"
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import DEFAULT_PATTERN_TIMEOUT, LAYOUT_MAX_CHARS, BoundedPattern, PatternTimeout, cap_text, shorten
from assay.rewards.rules.extraction import clip
from assay.types import Judgment, Sample

JsonExtract = Literal["auto", "whole", "fenced"]
# the language tag and the spaces around it are read once each (``[ \t]*`` twice in a row was
# quadratic on a fence followed by a long run of spaces)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]+[ \t]*)?\r?\n(.*?)```", re.DOTALL)
JSON_MAX_DEPTH = 256  # deeper JSON is not read: far beyond real outputs, well inside Python's stack
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: linear
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_source(text: str, extract: str) -> tuple[str | None, str]:
    """(the text to parse, where it came from); the text is None when ``fenced`` finds no block."""
    if extract not in ("auto", "whole", "fenced"):
        raise ValueError(f"extract must be auto, whole or fenced, got {extract!r}")
    if extract != "whole":
        blocks = [(lang.strip().lower(), body) for lang, body in _FENCE.findall(text)]
        tagged = [body for lang, body in blocks if lang == "json"]
        bare = [body for lang, body in blocks if lang == ""]
        if tagged:
            return tagged[-1].strip(), "the ```json fenced block"
        if bare:
            return bare[-1].strip(), "the ``` fenced block"
        if extract == "fenced":
            return None, "a fenced block"
    return text.strip(), "the whole response"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_depth(text: str) -> int:
    """How deep the brackets of ``text`` nest, strings skipped: one linear pass in C."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def parse_json(text: str, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """``json.loads`` that also rejects NaN and Infinity, and JSON nested deeper than
    ``max_depth`` (a ValueError saying so, never a RecursionError)."""
    if text.count("[") + text.count("{") > max_depth:  # cheap test first: few brackets cannot nest deep
        depth = json_depth(text)
        if depth > max_depth:
            raise ValueError(f"nested {depth} levels deep, beyond the limit of {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"nested too deeply to read (limit {max_depth} levels)") from None


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _read(sample: Sample, extract: str, max_chars: int | None = LAYOUT_MAX_CHARS) -> tuple[Any, str, Judgment | None, str]:
    """(parsed value, where from, a score-0 Judgment when there is no valid JSON, the
    truncation note for the rationale: '' unless the response was cut to ``max_chars``)."""
    capped = cap_text(sample.response_text, max_chars, "head")
    source, where = json_source(capped.text, extract)
    note = capped.note()
    flag = {"truncated": True} if capped.cut else {}
    if source is None:
        return None, where, Judgment(0.0, "no fenced ```json block found in the response; scored 0" + note, {"valid": False, "source": where, **flag}), note
    if not source:
        return None, where, Judgment(0.0, f"not valid JSON: {where} is empty" + note, {"valid": False, "source": where, **flag}), note
    try:
        return parse_json(source), where, None, note
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        return None, where, Judgment(0.0, f"not valid JSON ({where}): {error}" + note, {"valid": False, "source": where, "error": str(error), **flag}), note


class JsonValidOptions(Options):
    extract: JsonExtract = "auto"
    top_level: Literal["any", "object", "array"] = "any"  # require an object or an array at the top
    max_chars: int | None = Field(LAYOUT_MAX_CHARS, ge=1)  # read the first max_chars characters (null: all)


class JsonValid(Reward):
    """1 when the response (or its fenced block) parses as JSON, and is of the ``top_level``
    kind asked for; else 0 with the parser's error in the rationale."""

    type_name = "json_valid"
    Options = JsonValidOptions
    options: JsonValidOptions

    def score_one(self, sample: Sample) -> Judgment:
        value, where, invalid, note = _read(sample, self.options.extract, self.options.max_chars)
        if invalid is not None:
            return invalid
        kind = describe_value(value)
        details = {"valid": True, "source": where, "type": type(value).__name__}
        top_level = self.options.top_level
        wanted = {"object": dict, "array": list}.get(top_level)
        if wanted is not None and not isinstance(value, wanted):
            return Judgment(0.0, f"valid JSON read from {where}, but it is {kind}, not an {top_level}{note}", details)
        return Judgment(1.0, f"valid JSON ({kind}) read from {where}{note}", details)


class JsonSchemaOptions(Options):
    # ``schema`` would shadow a BaseModel attribute, so the field is ``schema_``, written ``schema:``.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")  # the schema inline
    schema_path: str | None = None  # a .json or .yaml file, relative to the config file
    schema_field: str = "schema"  # else each sample's own schema, from this field
    extract: JsonExtract = "auto"
    check_formats: bool = False  # also check "format" (email, date-time, ...) where jsonschema can
    max_errors: int = 3  # errors listed in the rationale
    max_chars: int | None = Field(LAYOUT_MAX_CHARS, ge=1)  # read the first max_chars characters of the response (null: all)
    max_schema_chars: int = Field(100_000, ge=100)  # a per-sample schema longer than this (as JSON) is an `input` failure
    timeout_seconds: float = Field(2.0, gt=0, le=60)  # validation of one sample (schema patterns included): a `timeout` failure past it

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> JsonSchemaOptions:
        if self.schema_ is not None and self.schema_path is not None:
            raise ValueError("give schema or schema_path, not both")
        if self.schema_ is not None:
            check_schema(self.schema_, "schema")
        if self.max_errors < 1:
            raise ValueError(f"max_errors must be >= 1, got {self.max_errors}")
        return self


class SchemaProblem(ValueError):
    """A schema that cannot be used (a remote ``$ref``, a bad pattern, a ``$ref`` loop): the
    sample's ``input`` failure."""


class ValidationTimeout(Exception):
    """Validation ran past its deadline."""


def _refuse_retrieval(uri: str) -> Any:
    raise SchemaProblem(f"$ref {uri!r} is not part of the schema: assay never fetches schemas (remote or from files) for a $ref")


def _local_registry() -> Any:
    from referencing import Registry

    return Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


_deadline = threading.local()  # the current validation's deadline and pattern time limit, per thread
_PATTERNS: OrderedDict[str, BoundedPattern] = OrderedDict()  # compiled schema patterns, bounded LRU
_PATTERN_CACHE = 512


def _schema_pattern(pattern: str) -> BoundedPattern:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        try:
            compiled = BoundedPattern(pattern, 0, DEFAULT_PATTERN_TIMEOUT, what="schema pattern")
        except ValueError as error:
            raise SchemaProblem(str(error)) from None
        _PATTERNS[pattern] = compiled
        if len(_PATTERNS) > _PATTERN_CACHE:
            _PATTERNS.popitem(last=False)
    return compiled


def _bounded_search(pattern: str, text: str) -> bool:
    """``re.search(pattern, text)`` with the regex module, within what is left of the deadline."""
    left = getattr(_deadline, "at", time.monotonic() + DEFAULT_PATTERN_TIMEOUT) - time.monotonic()
    if left <= 0:
        raise ValidationTimeout
    compiled = _schema_pattern(pattern)
    try:
        return compiled.compiled.search(text, timeout=min(left, DEFAULT_PATTERN_TIMEOUT), concurrent=True) is not None
    except TimeoutError:
        raise PatternTimeout(f"schema pattern {pattern[:60]!r} ran past the validation limit on a {len(text):,}-character string") from None


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _bounded_search(patrn, instance):
        yield ValidationError(f"{shorten(instance, 80)!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if _bounded_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = {k for k in instance if k not in properties and not any(_bounded_search(p, k) for p in patterns)}
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        joined = ", ".join(repr(each) for each in sorted(extras))
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {', '.join(repr(p) for p in sorted(patterns))}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({joined} {verb} unexpected)")


def _with_deadline(keyword: Any) -> Any:
    def bounded(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if time.monotonic() > getattr(_deadline, "at", float("inf")):
            raise ValidationTimeout
        errors = keyword(validator, value, instance, schema)
        if errors:
            yield from errors

    return bounded


_BOUNDED_CLASSES: dict[Any, Any] = {}


def bounded_validator_class(cls: Any) -> Any:
    """``cls`` with its pattern keywords on the bounded matcher and every keyword checking the
    validation deadline (one class per draft, made once)."""
    bounded = _BOUNDED_CLASSES.get(cls)
    if bounded is None:
        from jsonschema import validators

        keywords = dict(cls.VALIDATORS)
        for name, replacement in (("pattern", _pattern), ("patternProperties", _pattern_properties), ("additionalProperties", _additional_properties)):
            if name in keywords:
                keywords[name] = replacement
        bounded = validators.extend(cls, {name: _with_deadline(fn) for name, fn in keywords.items()})
        _BOUNDED_CLASSES[cls] = bounded
    return bounded


def check_schema(schema: Any, where: str) -> Any:
    """The validator class for ``schema``; a ValueError saying what is wrong otherwise."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, (dict, bool)):
        raise ValueError(f"{where}: a JSON schema is an object (or a boolean), got {type(schema).__name__}")
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise ValueError(f"{where} is not a valid JSON schema at ${path}: {error.message}") from None
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to check") from None
    _check_patterns(schema, where)
    return cls


def _uses(schema: Any, keywords: set[str]) -> set[str]:
    """Which of ``keywords`` appear as keys anywhere in ``schema``."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found |= keywords & set(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _check_patterns(schema: Any, where: str) -> None:
    """Every ``pattern`` and ``patternProperties`` key compiles (with the regex module)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            if isinstance(node.get("patternProperties"), dict):
                found += list(node["patternProperties"])
            for pattern in found:
                try:
                    _schema_pattern(pattern)
                except SchemaProblem as error:
                    raise ValueError(f"{where}: {error}") from None
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def json_path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


_SAMPLE_SCHEMA_CACHE = 128  # per-sample validators kept (LRU); each schema is at most max_schema_chars


class JsonSchema(Reward):
    """1 when the response's JSON conforms to the schema; 0 when it does not (the first
    ``max_errors`` validation errors are listed) or is not valid JSON. The schema comes from
    ``schema`` or ``schema_path`` (checked when the reward is built), else from each sample's
    ``schema_field`` (a missing, oversized or invalid one is an ``input`` failure).

    ``$ref`` resolves only inside the schema: nothing is ever fetched (a remote ``$ref`` is an
    ``input`` failure). Patterns run on the bounded matcher; validation past
    ``timeout_seconds`` is a ``timeout`` failure; a ``$ref`` loop is an ``input`` failure."""

    type_name = "json_schema"
    Options = JsonSchemaOptions
    options: JsonSchemaOptions

    def __init__(self, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        schema, schema_path = self.options.schema_, self.options.schema_path
        if schema_path is not None:
            schema = load_schema(schema_path, base_dir)
            where = f"{self.name}: schema file {schema_path}"
        else:
            where = f"{self.name}: schema"
        self._schema_validator = self._validator(schema, where) if schema is not None else None
        self._sample_validators: OrderedDict[str, Any] = OrderedDict()  # per-sample schemas, built once each (an RL group shares one)
        self._lock = threading.Lock()

    def _validator(self, schema: Any, where: str) -> Any:
        cls = check_schema(schema, where)
        bounded = bounded_validator_class(cls)
        return bounded(schema, registry=_local_registry(), format_checker=cls.FORMAT_CHECKER if self.options.check_formats else None)

    def _cached_validator(self, key: str) -> Any:
        with self._lock:
            validator = self._sample_validators.get(key)
            if validator is not None:
                self._sample_validators.move_to_end(key)
            return validator

    def _sample_validator(self, sample: Sample) -> Any:
        """The validator for the sample's own schema, or an ``input`` failure."""
        field = self.options.schema_field
        schema = sample.get(field)
        if schema is None:
            return Judgment.fail("input", f"no JSON schema: none in the config and the sample has no {field!r} field")
        if isinstance(schema, str):
            if len(schema) > self.options.max_schema_chars:
                return Judgment.fail("input", f"the sample's {field!r} has {len(schema):,} characters, over max_schema_chars ({self.options.max_schema_chars:,})")
            key = "text:" + schema  # an RL group's samples share the text: found before any parsing
            cached = self._cached_validator(key)
            if cached is not None:
                return cached
            try:
                schema = parse_json(schema)
            except ValueError as error:
                return Judgment.fail("input", f"the sample's {field!r} is not valid JSON: {error}", raw=shorten(sample.get(field), 2000))
        else:
            try:
                key = "json:" + json.dumps(schema, sort_keys=True, default=str)
            except (RecursionError, ValueError):
                return Judgment.fail("input", f"the sample's {field!r} is nested too deeply or recursive")
            if len(key) > self.options.max_schema_chars + 5:
                return Judgment.fail("input", f"the sample's {field!r} is {len(key) - 5:,} characters as JSON, over max_schema_chars ({self.options.max_schema_chars:,})")
            cached = self._cached_validator(key)
            if cached is not None:
                return cached
        if _uses(schema, {"unevaluatedProperties", "patternProperties"}) == {"unevaluatedProperties", "patternProperties"}:
            # jsonschema matches patternProperties for unevaluatedProperties with its own `re`,
            # which no time limit can stop: refused for untrusted (per-sample) schemas
            return Judgment.fail("input", f"the sample's {field!r} combines unevaluatedProperties with patternProperties, which per-sample schemas may not (their patterns could not be time-limited)")
        try:
            validator = self._validator(schema, f"the sample's {field!r}")
        except ValueError as error:
            return Judgment.fail("input", str(error))
        with self._lock:
            self._sample_validators[key] = validator
            while len(self._sample_validators) > _SAMPLE_SCHEMA_CACHE:  # bounded: forget the least recently used
                self._sample_validators.popitem(last=False)
        return validator

    def _errors(self, validator: Any, value: Any) -> list[Any] | Judgment:
        """The validation errors, or the failure that stopped validation."""
        from referencing.exceptions import Unresolvable

        limit = self.options.timeout_seconds
        _deadline.at = time.monotonic() + limit
        try:
            return sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        except (ValidationTimeout, PatternTimeout) as error:
            return Judgment.fail("timeout", f"schema validation ran past its {limit:g} s limit (timeout_seconds){': ' + str(error) if str(error) else ''}; no score")
        except SchemaProblem as error:
            return Judgment.fail("input", f"unusable schema: {error}")
        except Unresolvable as error:
            ref = getattr(error, "ref", str(error))
            return Judgment.fail("input", f"unusable schema: $ref {str(ref)[:200]!r} does not resolve inside the schema (assay never fetches a $ref: no network, no files)")
        except RecursionError:
            return Judgment.fail("input", "unusable schema: validation recursed without end (a $ref loop such as {\"$ref\": \"#\"}, or JSON nested too deeply for a recursive schema)")
        finally:
            del _deadline.at

    def score_one(self, sample: Sample) -> Judgment:
        validator = self._schema_validator
        max_errors = self.options.max_errors
        if validator is None:
            validator = self._sample_validator(sample)
            if isinstance(validator, Judgment):
                return validator
        value, where, invalid, note = _read(sample, self.options.extract, self.options.max_chars)
        if invalid is not None:
            return invalid
        errors = self._errors(validator, value)
        if isinstance(errors, Judgment):
            return errors
        details: dict[str, Any] = {"valid_json": True, "source": where, "errors": [f"{json_path(e.absolute_path)}: {shorten(e.message, 300)}" for e in errors[:100]]}
        if len(errors) > 100:
            details["error_count"] = len(errors)
        if not errors:
            return Judgment(1.0, f"JSON from {where} ({describe_value(value)}) conforms to the schema{note}", details)
        shown = "; ".join(f"at {json_path(e.absolute_path)}: {clip(e.message[:300], 100)[1:-1]}" for e in errors[:max_errors])
        more = f"; and {len(errors) - max_errors} more" if len(errors) > max_errors else ""
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        return Judgment(0.0, f"JSON from {where} does not conform to the schema ({count}): {shown}{more}{note}", details)


def load_schema(path: str, base_dir: Path | None = None) -> Any:
    """Read a schema from a .json (or .yaml/.yml) file, relative to ``base_dir`` then the
    working directory; a clear error when it is missing or unreadable."""
    candidates = [Path(path)] if Path(path).is_absolute() else [Path(base_dir or ".") / path, Path.cwd() / path]
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise FileNotFoundError(f"schema file {path!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return parse_json(text)
    except Exception as error:
        raise ValueError(f"schema file {file} cannot be read: {error}") from error
