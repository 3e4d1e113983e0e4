"""JSON rewards: the response is valid JSON (``json_valid``), and it conforms to a JSON Schema
(``json_schema``, with jsonschema).

Where the JSON is read (``extract``): ``auto`` takes the last fenced block (```` ```json ````
preferred, else a bare ```` ``` ````) when there is one, else the whole response; ``whole``
the whole response (stripped); ``fenced`` only a fenced block (none found scores 0).
``NaN`` and ``Infinity`` are not JSON and are rejected.

    >>> from assay.types import Sample
    >>> JsonValid().score([Sample(response='Here: ```json\\n{"a": 1}\\n```')])[0].rationale
    'valid JSON (an object with 1 key) read from the ```json fenced block'
    >>> JsonSchema(schema={"type": "object", "required": ["a"]}).score([Sample(response='{"b": 2}')])[0].rationale
    "JSON from the whole response does not conform to the schema (1 error): at $: 'a' is a required property"
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from assay.reward import Options, Reward
from assay.rewards.rules.extraction import clip
from assay.types import Judgment, Sample

JsonExtract = Literal["auto", "whole", "fenced"]
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)


def json_source(text: str, extract: str) -> tuple[str | None, str]:
    """(the text to parse, where it came from); the text is None when ``fenced`` finds no block."""
    if extract not in ("auto", "whole", "fenced"):
        raise ValueError(f"extract must be auto, whole or fenced, got {extract!r}")
    if extract != "whole":
        blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
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


def parse_json(text: str) -> Any:
    """``json.loads`` that also rejects NaN and Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


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


def _read(sample: Sample, extract: str) -> tuple[Any, str, Judgment | None]:
    """(parsed value, where from, a score-0 Judgment when there is no valid JSON)."""
    source, where = json_source(sample.response_text, extract)
    if source is None:
        return None, where, Judgment(0.0, "no fenced ```json block found in the response; scored 0", {"valid": False, "source": where})
    if not source:
        return None, where, Judgment(0.0, f"not valid JSON: {where} is empty", {"valid": False, "source": where})
    try:
        return parse_json(source), where, None
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        return None, where, Judgment(0.0, f"not valid JSON ({where}): {error}", {"valid": False, "source": where, "error": str(error)})


class JsonValidOptions(Options):
    extract: JsonExtract = "auto"
    top_level: Literal["any", "object", "array"] = "any"  # require an object or an array at the top


class JsonValid(Reward):
    """1 when the response (or its fenced block) parses as JSON, and is of the ``top_level``
    kind asked for; else 0 with the parser's error in the rationale."""

    type_name = "json_valid"
    Options = JsonValidOptions
    options: JsonValidOptions

    def score_one(self, sample: Sample) -> Judgment:
        value, where, invalid = _read(sample, self.options.extract)
        if invalid is not None:
            return invalid
        kind = describe_value(value)
        details = {"valid": True, "source": where, "type": type(value).__name__}
        top_level = self.options.top_level
        wanted = {"object": dict, "array": list}.get(top_level)
        if wanted is not None and not isinstance(value, wanted):
            return Judgment(0.0, f"valid JSON read from {where}, but it is {kind}, not an {top_level}", details)
        return Judgment(1.0, f"valid JSON ({kind}) read from {where}", details)


class JsonSchemaOptions(Options):
    # ``schema`` would shadow a BaseModel attribute, so the field is ``schema_``, written ``schema:``.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")  # the schema inline
    schema_path: str | None = None  # a .json or .yaml file, relative to the config file
    schema_field: str = "schema"  # else each sample's own schema, from this field
    extract: JsonExtract = "auto"
    check_formats: bool = False  # also check "format" (email, date-time, ...) where jsonschema can
    max_errors: int = 3  # errors listed in the rationale

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
    return cls


def json_path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


class JsonSchema(Reward):
    """1 when the response's JSON conforms to the schema; 0 when it does not (the first
    ``max_errors`` validation errors are listed) or is not valid JSON. The schema comes from
    ``schema`` or ``schema_path`` (checked when the reward is built), else from each sample's
    ``schema_field`` (a missing or invalid one is an ``input`` failure)."""

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
        self._sample_validators: dict[str, Any] = {}  # per-sample schemas, built once each (an RL group shares one)

    def _validator(self, schema: Any, where: str) -> Any:
        cls = check_schema(schema, where)
        return cls(schema, format_checker=cls.FORMAT_CHECKER if self.options.check_formats else None)

    def score_one(self, sample: Sample) -> Judgment:
        validator = self._schema_validator
        field, max_errors = self.options.schema_field, self.options.max_errors
        if validator is None:
            schema = sample.get(field)
            if schema is None:
                return Judgment.fail("input", f"no JSON schema: none in the config and the sample has no {field!r} field")
            if isinstance(schema, str):
                try:
                    schema = parse_json(schema)
                except ValueError as error:
                    return Judgment.fail("input", f"the sample's {field!r} is not valid JSON: {error}", raw=schema)
            key = json.dumps(schema, sort_keys=True, default=str)
            validator = self._sample_validators.get(key)
            if validator is None:
                try:
                    validator = self._validator(schema, f"the sample's {field!r}")
                except ValueError as error:
                    return Judgment.fail("input", str(error))
                if len(self._sample_validators) >= 1024:  # bounded: forget the oldest
                    self._sample_validators.pop(next(iter(self._sample_validators)))
                self._sample_validators[key] = validator
        value, where, invalid = _read(sample, self.options.extract)
        if invalid is not None:
            return invalid
        errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        details: dict[str, Any] = {"valid_json": True, "source": where, "errors": [f"{json_path(e.absolute_path)}: {e.message}" for e in errors]}
        if not errors:
            return Judgment(1.0, f"JSON from {where} ({describe_value(value)}) conforms to the schema", details)
        shown = "; ".join(f"at {json_path(e.absolute_path)}: {clip(e.message, 100)[1:-1]}" for e in errors[:max_errors])
        more = f"; and {len(errors) - max_errors} more" if len(errors) > max_errors else ""
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        return Judgment(0.0, f"JSON from {where} does not conform to the schema ({count}): {shown}{more}", details)


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
