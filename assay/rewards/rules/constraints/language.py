"""Language instructions (IFEval's ``language:response_language``) and the language half of
the case instructions, with ``langdetect`` (the detector IFEval uses), seeded so a verdict
does not change from one run to the next.

Where langdetect cannot tell (a response with no letters), IFEval counts the instruction as
followed; so does this, and the verdict says so in words. IFEval's ``zh`` matches
langdetect's ``zh-cn`` and ``zh-tw``.

What this is not: a translation-quality reward.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator

from assay.rewards.rules.constraints.base import Args, Verdict

DETECT_CHARS = 10_000


@lru_cache(maxsize=1)
def _detector_module() -> Any:
    try:
        import langdetect
        from langdetect import DetectorFactory
    except ImportError as error:
        raise ImportError("language instructions need langdetect: pip install 'assay[ifeval]'") from error
    DetectorFactory.seed = 0  # langdetect samples n-grams at random; a fixed seed makes it repeatable
    return langdetect


@lru_cache(maxsize=1)
def known_languages() -> frozenset[str]:
    """The language codes langdetect has profiles for (ISO 639-1, plus zh-cn / zh-tw)."""
    from pathlib import Path

    profiles = Path(_detector_module().__file__).parent / "profiles"
    return frozenset(p.name for p in profiles.iterdir())


def detect(text: str) -> str | None:
    """The detected language code, or None when langdetect finds nothing to go on. Read from
    the first ``DETECT_CHARS`` characters: plenty to tell a language, and it keeps a 1 MB
    response from costing seconds."""
    langdetect = _detector_module()
    try:
        return langdetect.detect(text[:DETECT_CHARS])
    except langdetect.LangDetectException:
        return None


class LanguageArgs(Args):
    language: str = Field(min_length=2)

    @field_validator("language")
    @classmethod
    def _known(cls, value: str) -> str:
        known = known_languages() | {"zh"}  # "zh" (as IFEval's data may say) is either of langdetect's zh-cn / zh-tw
        if value not in known:
            raise ValueError(f"unknown language code {value!r}; langdetect knows: {', '.join(sorted(known))}")
        return value


def response_language(text: str, args: LanguageArgs) -> Verdict:
    found = detect(text)
    if found is None:
        return Verdict(True, "no language detectable (no letters); counted as met, as IFEval does")
    wanted = args.language
    # IFEval compares codes exactly; "zh" also accepts langdetect's "zh-cn"/"zh-tw"
    ok = found == wanted or (wanted == "zh" and found.startswith("zh-"))
    return Verdict(ok, f"detected language {found!r} ({wanted!r} wanted)")
