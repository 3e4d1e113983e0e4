"""The ``calculator`` judge tool: exact arithmetic and algebra with sympy, without ``eval``.

The input is one expression in Python/sympy notation (``2**10 - 1``, ``sqrt(8)``,
``1/3 + 1/6``, ``factorial(20)``, ``solve(x**2 - 4, x)``, ``simplify(...)``); ``^`` is read
as a power. The answer is the exact result and, for a number that is not an integer, a
20-digit decimal (``1/2 (= 0.5)``). Numbers stay exact: ``0.1`` is read as 1/10.

How it is read: the text is parsed by Python's ``ast`` module and the tree is *walked* into
sympy objects here; nothing is ever evaluated as Python. Only numbers, the one-letter
symbols ``a``-``z``, the operators ``+ - * / // % **``, and calls of the functions and
constants in :data:`FUNCTIONS` / :data:`CONSTANTS` are accepted; attributes, subscripts,
strings, lambdas and every other construct are refused with the reason. Bounds: at most
``max_chars`` characters and ``max_nodes`` tree nodes, integer exponents and factorial
arguments at most :data:`MAX_EXPONENT`, and every evaluation runs in a killable worker
process (``assay.sandbox.pool``, ``workers`` of them, :mod:`.workers`) under the call's time bound and an address-space limit, so
``integrate`` of something hard ends as a tool error, not a stuck judge.

    tools: [calculator]            # or {calculator: {max_chars: 500}}

Not here: numerical checks of a program (the ``python`` tool), answer comparison for
rewards (``assay.rewards.math``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from pydantic import Field

from assay.rewards.judges.tools.base import Tool, ToolError, ToolOptions

CALCULATOR_WORKER = "assay.rewards.judges.tools.calculator:make_worker"
MAX_EXPONENT = 100_000
FUNCTIONS = (
    "sqrt", "cbrt", "root", "exp", "log", "ln", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
    "factorial", "binomial", "gcd", "lcm", "Abs", "abs", "floor", "ceiling", "Rational", "Integer", "Mod", "Min", "Max", "min", "max",
    "simplify", "expand", "factor", "solve", "diff", "integrate", "limit", "summation", "N", "isprime", "primefactors", "divisors", "Eq",
    "nsimplify", "re", "im", "conjugate", "sign",
)
CONSTANTS = ("pi", "E", "I", "oo")
_SYMBOLS = tuple("abcdefghjklmnopqrstuvwxyz")  # one-letter symbols; 'i' is the imaginary unit too often, so it is not one
_ALIASES = {"ln": "log", "abs": "Abs", "min": "Min", "max": "Max"}


class CalculatorOptions(ToolOptions):
    max_chars: int = Field(2000, ge=10, le=100_000)
    max_nodes: int = Field(500, ge=10, le=100_000)
    memory_mb: int = Field(1024, ge=128, le=16384)
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    workers: int = Field(2, ge=1, le=32)  # worker processes: calls of concurrent judgments run side by side


def _refuse(why: str) -> ToolError:
    return ToolError(f"the calculator cannot read this expression: {why}")


def parse(text: str, max_chars: int = 2000, max_nodes: int = 500) -> ast.AST:
    """The checked syntax tree of ``text`` (``^`` read as ``**``); raises ToolError."""
    text = text.strip().removeprefix("`").removesuffix("`").strip()
    if not text:
        raise _refuse("it is empty")
    if len(text) > max_chars:
        raise _refuse(f"it has {len(text)} characters, more than the limit of {max_chars}")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError) as error:
        raise _refuse(f"syntax error ({getattr(error, 'msg', error)})") from None
    except RecursionError:
        raise _refuse("it is nested too deeply") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > max_nodes:
        raise _refuse(f"it has {len(nodes)} syntax nodes, more than the limit of {max_nodes}")
    names = set(FUNCTIONS) | set(CONSTANTS) | set(_SYMBOLS)
    for node in nodes:
        if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, ast.operator, ast.unaryop, ast.Tuple, ast.List)):
            if isinstance(node, ast.BinOp) and not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)):
                raise _refuse(f"the operator {type(node.op).__name__} is not allowed")
            if isinstance(node, ast.UnaryOp) and not isinstance(node.op, (ast.UAdd, ast.USub)):
                raise _refuse(f"the operator {type(node.op).__name__} is not allowed")
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float, complex)):
                raise _refuse(f"only numbers are allowed as literals, not {type(node.value).__name__}")
            continue
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise _refuse(f"the name {node.id!r} is not known (functions: {', '.join(FUNCTIONS)}; constants: {', '.join(CONSTANTS)}; one-letter symbols)")
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise _refuse("only the listed functions may be called")
            if node.keywords:
                raise _refuse("keyword arguments are not allowed")
            continue
        raise _refuse(f"{type(node).__name__} is not allowed in an expression")
    return tree


def _build(node: ast.AST, sympy: Any) -> Any:
    """The sympy object of a checked tree, built node by node (no ``eval``)."""
    if isinstance(node, ast.Expression):
        return _build(node.body, sympy)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int):
            return sympy.Integer(value)
        if isinstance(value, float):
            return sympy.Rational(repr(value))  # exact: 0.1 is 1/10
        return sympy.Rational(repr(value.real)) + sympy.Rational(repr(value.imag)) * sympy.I
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return getattr(sympy, node.id)
        if node.id in FUNCTIONS:
            raise _refuse(f"{node.id} is a function: call it, {node.id}(...)")
        return sympy.Symbol(node.id)
    if isinstance(node, (ast.Tuple, ast.List)):
        return sympy.Tuple(*(_build(e, sympy) for e in node.elts))
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, sympy)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _build(node.left, sympy), _build(node.right, sympy)
        op = node.op
        if isinstance(op, ast.Pow):
            if right.is_Integer and abs(int(right)) > MAX_EXPONENT and left.is_number and abs(left) not in (0, 1):
                raise _refuse(f"the exponent {right} is larger than the limit of {MAX_EXPONENT}")
            return left**right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, ast.FloorDiv):
            return sympy.floor(left / right)
        if isinstance(op, ast.Mod):
            return sympy.Mod(left, right)
        return {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right}[type(op)]()
    if isinstance(node, ast.Call):
        name = _ALIASES.get(node.func.id, node.func.id)  # type: ignore[attr-defined]
        args = [_build(a, sympy) for a in node.args]
        if name == "factorial" and args and args[0].is_Integer and int(args[0]) > MAX_EXPONENT:
            raise _refuse(f"factorial of {args[0]} is larger than the limit of factorial({MAX_EXPONENT})")
        if name == "summation" and len(args) == 2 and isinstance(args[1], sympy.Tuple):
            args = [args[0], tuple(args[1])]
        function = getattr(sympy, name)
        return function(*args)
    raise _refuse(f"{type(node).__name__} is not allowed")


def evaluate(text: str, max_chars: int = 2000, max_nodes: int = 500) -> str:
    """The calculator's answer for ``text`` (in this process, unbounded in time: the tool runs
    it in a worker). Raises ToolError for what it cannot read or compute."""
    import sympy

    tree = parse(text, max_chars, max_nodes)
    try:
        value = _build(tree, sympy)
    except ToolError:
        raise
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except Exception as error:  # noqa: BLE001 - sympy's errors on an odd input are the tool's answer
        raise ToolError(f"sympy could not compute it ({type(error).__name__}: {str(error)[:300]})") from None
    try:
        shown = str(value)
    except ValueError:  # an integer of more digits than Python writes out
        return f"{value.evalf(30)} (an exact integer too long to write out, shown rounded)"
    if getattr(value, "is_number", False) and not value.is_Integer and value.is_finite:
        try:
            decimal = str(value.evalf(20))
            if "." in decimal and "e" not in decimal.lower():
                decimal = decimal.rstrip("0").rstrip(".")
            if decimal != shown:
                shown += f" (= {decimal})"
        except Exception:  # noqa: BLE001 - the exact form is the answer; the decimal is a courtesy
            pass
    if shown == "zoo":
        shown += " (complex infinity: a division by zero)"
    return shown


def make_worker(memory_mb: int, max_chars: int, max_nodes: int) -> Callable[[str], tuple[str, str]]:
    """The worker's handler (runs in a pool process): bound the address space, import sympy
    once, answer ``("ok", text)`` or ``("error", message)``."""
    import resource

    import sympy  # noqa: F401 - imported before the worker reports ready

    limit = memory_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))

    def handle(text: str) -> tuple[str, str]:
        try:
            return "ok", evaluate(text, max_chars, max_nodes)
        except ToolError as error:
            return "error", str(error)
        except MemoryError:
            return "error", f"the computation needed more than the calculator's {memory_mb} MB"

    return handle


class CalculatorTool(Tool):
    name = "calculator"
    description = (
        "Exact arithmetic and algebra (sympy). One expression, e.g. 2**10 - 1, 1/3 + 1/6, sqrt(8), factorial(20), "
        "solve(x**2 - 4, x), simplify((x**2 - 1)/(x - 1)). Fractions stay exact."
    )
    input_name = "expression"
    input_description = "one mathematical expression in Python/sympy notation"
    Options = CalculatorOptions

    def __init__(self, base_dir: Any = None, **options: Any) -> None:
        from assay.rewards.judges.tools.workers import Workers

        super().__init__(base_dir, **options)
        o = self.options
        self.workers = Workers(CALCULATOR_WORKER, {"memory_mb": o.memory_mb, "max_chars": o.max_chars, "max_nodes": o.max_nodes},
                               size=o.workers, timeout_seconds=o.timeout_seconds, label="calculator")

    def warm_up(self) -> None:
        """Start the workers now (not waiting for them), so the first call is not charged their start-up."""
        self.workers.start()

    def call(self, text: str, timeout_seconds: float) -> str:
        parse(text, self.options.max_chars, self.options.max_nodes)  # refuse here what need not travel
        bound = max(0.1, min(self.options.timeout_seconds, timeout_seconds))
        outcome = self.workers.run(text, bound)
        if outcome.kind == "timeout":
            raise ToolError(f"the calculation did not finish within {bound:g} s")
        if outcome.kind != "ok":
            raise ToolError(f"the calculator failed ({outcome.kind}: {outcome.message})")
        status, answer = outcome.value
        if status != "ok":
            raise ToolError(answer)
        return answer

    def close(self) -> None:
        self.workers.close()
