"""Tool-checked steps: verify the arithmetic a reasoning step asserts, with no model.

GroundedPRM's fidelity idea at its cheapest: a step that writes ``16 - 3 = 13`` can be
checked by computing ``16 - 3``. This reward reads the numeric claims of one step and
recomputes them exactly (fractions, not floats):

- GSM8K calculator annotations: ``<<16-3=13>>``;
- equalities written in the text: ``16 - 3 - 4 = 9``, ``9 * 2 = $18``, ``3 x 4 = 12``,
  chains ``2 + 3 = 5``, running chains ``2 + 3 = 5 * 2 = 10`` (each link checked);
- the same inside LaTeX: ``$\\frac{3}{4} \\times 8 = 6$``, ``\\cdot``, ``\\div``, ``^``.

A step scores 1 when every claim holds and 0 when any claim is wrong (the rationale shows
the first wrong one and its true value). A claimed value is accepted within float noise, rounded to the decimals it shows
(``10 / 3 = 3.33``), as a percent label, and, after a division, as the whole number just below
or above (``450 / 70 = 6`` trays): word problems round, and a false alarm on a correct solution
costs more than a missed one. ``\\approx`` and ``~`` are not equalities and are not checked. A step with no checkable claim
**abstains** (score ``None``, no failure): an equation with unknowns (``3p + e = 1.24``), a
word-only step and a bare number are not claims this checker can decide, and saying
"correct" for them would be a fake score.

Use it as the step scorer of ``process``:

    rewards:
      arithmetic:
        type: process
        step_reward: {type: step_arithmetic}
        aggregate: min

    >>> from assay import Sample
    >>> [j] = StepArithmetic().score([Sample(response="She has 16 - 3 = <<16-3=12>>12 eggs")])
    >>> j.score, j.rationale.split(";")[0]
    (0.0, '2 claims checked, 2 wrong: 16 - 3 = 12 is wrong (16 - 3 = 13)')

Bounded: a step is read up to ``max_chars`` characters, at most ``max_claims`` claims are
checked, an expression longer than 200 characters or with an exponent above 64 is skipped
(not checked) rather than computed. Tokenising is a single linear pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from pydantic import Field

from assay.reward import Options, Reward
from assay.types import Judgment, Sample

_ANNOTATION = re.compile(r"<<([^<>=]{1,200})=([^<>]{1,60})>>")
_LATEX_WORDS = {r"\times": "*", r"\cdot": "*", r"\div": "/", r"\left": "", r"\right": "", r"\,": "", r"\!": "", r"\$": ""}
_LATEX_WORD = re.compile(r"\\(?:times|cdot|div|left|right)(?![a-zA-Z])|\\[,!$]")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]{1,80})\}\s*\{([^{}]{1,80})\}")
# one token at a time: a number (thousands separators allowed), an operator, '=', a run of letters, a LaTeX command, or anything else
_TOKEN = re.compile(r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)|([-+*/×÷^()=%])|([A-Za-z]+)|(\\[A-Za-z]+)|(\s+)|(\$)|(.)", re.S)
# short words that are English, not variables; any other run of one or two letters reads as a variable
_SHORT_WORDS = frozenset("a i is so of to in at by or if an be it we he as on so me my no do up us".split())
_MAX_EXPR = 200
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class Claim:
    left: str
    right: str
    holds: bool
    value: Fraction


class _Unreadable(ValueError):
    """An expression this checker does not compute (too long, unknown symbol, huge power)."""


_MATH_SEGMENT = re.compile(r"\$([^$]{1,2000})\$")
_LETTERS = re.compile(r"\\[A-Za-z]+|[A-Za-z]+")


def _mark_math_letters(text: str) -> str:
    """Inside ``$...$`` every letter is a symbol, never an English word (``$a^2-a-2=0$``)."""
    return _MATH_SEGMENT.sub(lambda m: "$" + _LETTERS.sub(lambda w: w.group(0) if w.group(0)[0] == "\\" else "_" * len(w.group(0)), m.group(1)) + "$", text)


def _normalise_latex(text: str) -> str:
    for _ in range(3):  # nested \frac, bounded
        text = _FRAC.sub(r"((\1)/(\2))", text)
    text = _LATEX_WORD.sub(lambda m: _LATEX_WORDS.get(m.group(0), ""), text)
    return text.replace("{", "(").replace("}", ")")


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs; kinds: num, op, eq, var (a variable or a command: the chain is not numeric), sep (ends an expression)."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        number, op, letters, command, space, dollar, other = m.groups()
        if number is not None:
            out.append(("num", number.replace(",", "")))
        elif op is not None:
            out.append(("eq", "=") if op == "=" else ("op", {"×": "*", "÷": "/"}.get(op, op)))
        elif letters is not None:
            if letters in ("x", "X"):
                out.append(("x", "*"))  # multiplication only between numbers; decided below
            elif len(letters) <= 2 and letters.lower() not in _SHORT_WORDS:
                out.append(("var", letters))
            else:
                out.append(("sep", letters))
        elif command is not None or other == "_":  # \sqrt, \pi, a subscript: not plain arithmetic
            out.append(("var", command or other))
        elif space is None and dollar is None:
            out.append(("sep", other))
    for i, (kind, _) in enumerate(out):  # 'x' is "times" only between a number/')' and a number/'('
        if kind == "x":
            before = out[i - 1] if i else ("sep", "")
            after = out[i + 1] if i + 1 < len(out) else ("sep", "")
            is_times = (before[0] == "num" or before[1] == ")") and (after[0] == "num" or after[1] == "(")
            out[i] = ("op", "*") if is_times else ("var", "x")
    return out


class _Parser:
    """Exact arithmetic over Fractions: + - * / ^ %, unary signs, parentheses."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.i = tokens, 0

    def parse(self) -> Fraction:
        value = self.sum()
        if self.i != len(self.tokens):
            raise _Unreadable("trailing tokens")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Unreadable("unexpected end")
        self.i += 1
        return token

    def sum(self) -> Fraction:
        value = self.product()
        while self.peek() in ("+", "-"):
            value = value + self.product() if self.take() == "+" else value - self.product()
        return value

    def product(self) -> Fraction:
        value = self.power()
        while self.peek() in ("*", "/", "("):
            op = self.take() if self.peek() != "(" else "*"  # 3(4) is 3 * 4
            right = self.power()
            if op == "/":
                if right == 0:
                    raise _Unreadable("division by zero")
                value /= right
            else:
                value *= right
        return value

    def power(self) -> Fraction:
        base = self.unary()
        if self.peek() == "^":
            self.take()
            exponent = self.power()
            if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT or (base == 0 and exponent < 0):
                raise _Unreadable("exponent out of range")
            return base ** int(exponent)
        return base

    def unary(self) -> Fraction:
        if self.peek() in ("+", "-"):
            sign = -1 if self.take() == "-" else 1
            return sign * self.unary()
        return self.atom()

    def atom(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.sum()
            if self.take() != ")":
                raise _Unreadable("unbalanced parenthesis")
        else:
            try:
                value = Fraction(token)
            except ValueError as error:
                raise _Unreadable(f"not a number: {token}") from error
        if self.peek() == "%":
            self.take()
            value /= 100
        return value


def _evaluate(tokens: list[str]) -> Fraction:
    if not tokens or sum(len(t) for t in tokens) > _MAX_EXPR:
        raise _Unreadable("empty or too long")
    return _Parser(tokens).parse()


def _matches(claimed_text: str, claimed: Fraction, true: Fraction, divides: bool = False) -> bool:
    """Whether a claimed value states the true one: exactly, within float noise
    (``<<4.20+9.45+1.35=14.999999999999998>>``), rounded to the decimals it shows
    (``10 / 3 = 3.33``), as a percent label (``100/1000*100 = 10%``), or, after a division,
    as the whole number below or above it (``450/70 = 6`` trays: word problems round)."""
    candidates = [claimed]
    if claimed_text.endswith("%"):
        candidates.append(claimed * 100)
    for value in candidates:
        if value == true or abs(value - true) <= Fraction(1, 10**9) * max(1, abs(true)):
            return True
        decimals = claimed_text.rstrip("% ").split(".")[1] if "." in claimed_text else ""
        if decimals and abs(true) < 10**12 and round(float(true), len(decimals)) == float(value):
            return True
        if divides and value.denominator == 1 and true.denominator != 1 and value in (true.numerator // true.denominator, -(-true.numerator // true.denominator)):
            return True
    return False


def _runs(tokens: list[tuple[str, str]]) -> list[list[list[str]]]:
    """Maximal chains E0 = E1 = ... of numeric expressions (token lists), split at words.
    A chain touched by a variable (``3p + 2 = 8``) is dropped whole: it is an equation, not arithmetic."""
    chains: list[list[list[str]]] = []
    current: list[list[str]] = [[]]
    poisoned = False
    for kind, text in tokens + [("sep", "")]:
        if kind == "eq":
            current.append([])
        elif kind in ("num", "op"):
            current[-1].append(text)
        elif kind == "var":
            poisoned = True
        else:
            if len(current) >= 2 and not poisoned:
                chains.append(current)
            current, poisoned = [[]], False
    return chains


def claims_of(text: str, max_claims: int = 50) -> list[Claim]:
    """Every checkable numeric claim of a step, in order of appearance."""
    found: list[Claim] = []
    for m in _ANNOTATION.finditer(text):
        claim = _check_link(_expression(m.group(1)), _expression(m.group(2)))
        if claim is not None:
            found.append(claim)
    plain = _normalise_latex(_mark_math_letters(_ANNOTATION.sub(" ", text)))
    for chain in _runs(_tokens(plain)):
        for k, (left, right) in enumerate(zip(chain, chain[1:])):
            if len(found) >= max_claims:
                return found
            claim = _check_link(left, right, running=k + 2 < len(chain))
            if claim is not None:
                found.append(claim)
    return found[:max_claims]


def _expression(text: str) -> list[str]:
    """The tokens of a whole arithmetic expression, or [] when the text holds anything else."""
    tokens = _tokens(_normalise_latex(text))
    return [t for _, t in tokens] if tokens and all(k in ("num", "op") for k, _ in tokens) else []


def _check_link(left: list[str], right: list[str], running: bool = False) -> Claim | None:
    """``left = right``; inside a running chain ``2 + 3 = 5 * 2 = 10`` (``running``: another
    link follows) the link ``2 + 3 = 5 * 2`` checks 2 + 3 against 5 only."""
    if not left or not right or left[0] in ("+", "*", "/", "^", "%") or not any(t in "+-*/^%" for t in left + right[1:]):
        return None  # "x = 5", "5 = 5", "points + 26 = 240": nothing whole computed, nothing to check
    try:
        value = _evaluate(left)
        claimed = _evaluate(right)
    except _Unreadable:
        return None
    right_text, divides = " ".join(right), "/" in left
    if running and not _matches(right_text, claimed, value, divides) and len(right) > 1 and right[1] in ("+", "-", "*", "/", "^"):
        try:  # running chain: the first number of the right side is the claimed value
            claimed, right_text = Fraction(right[0]), right[0]
        except ValueError:
            pass
    return Claim(" ".join(left), right_text, _matches(right_text, claimed, value, divides), value)


def _show(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"


class StepArithmeticOptions(Options):
    max_chars: int = Field(20_000, gt=0)  # a step is read up to this many characters
    max_claims: int = Field(50, gt=0)


class StepArithmetic(Reward):
    """1 when every numeric claim of the step holds, 0 when one is wrong, abstains when there is none."""

    type_name = "step_arithmetic"
    Options = StepArithmeticOptions

    def score_one(self, sample: Sample) -> Judgment:
        text = sample.response_text
        cut = len(text) > self.options.max_chars
        claims = claims_of(text[: self.options.max_chars], self.options.max_claims)
        note = f" (read the first {self.options.max_chars:,} of {len(text):,} characters)" if cut else ""
        if not claims:
            return Judgment(None, f"no checkable arithmetic claim in the step{note}: abstained")
        wrong = [c for c in claims if not c.holds]
        details = {"claims": [{"left": c.left, "right": c.right, "holds": c.holds, "value": _show(c.value)} for c in claims]}
        if wrong:
            first = wrong[0]
            rationale = f"{len(claims)} claims checked, {len(wrong)} wrong: {first.left} = {first.right} is wrong ({first.left} = {_show(first.value)}){note}"
            return Judgment(0.0, rationale, details=details)
        return Judgment(1.0, f"{len(claims)} claims checked, all hold{note}", details=details)
