"""Throughput of the ``code`` reward against the usual way to run generated code, with identical verdicts.

Two workloads, in one run:

1. **HumanEval** (164 problems x 8 samples = 1,312 programs): per problem, the canonical
   solution three times and five wrong programs (an empty body, another problem's solution,
   a body that raises, a wrong constant, a solution cut in half: a syntax error). Infinite
   loops are left out here (they cost their time limit whichever way they run; the tests
   cover them).
2. **stdin/stdout with many cases per program**: 8 problems written here, 25 cases each, four
   programs per problem (two right, two wrong): 32 programs, 800 cases.

Compared, on the same inputs:

- ``usual``: what most RL code does: for each sample (for each case), write the program
  and ``subprocess.run([sys.executable, file])`` it, one after another, no isolation;
  a verdict is exit status 0 (HumanEval) or the output's tokens equal the expected ones;
- ``assay``: the ``code`` reward, full isolation (bubblewrap), the shared pool (default: one
  sandbox per core), up to 8 programs per sandbox start, all the cases of a program in it;
- ``assay (no isolation)``: the same reward and pool on the ``subprocess`` backend: the
  difference to ``assay`` is what the isolation itself costs.

Verdicts must be identical (pass/fail per HumanEval sample; per-program fraction of cases
for stdin/stdout); the script exits non-zero otherwise. Results go to
``perf/results/code_throughput.{json,md}``.

    .venv/bin/python perf/code_throughput.py [--data-dir ../shared/data] [--problems 164]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assay.rewards.code.compare import outputs_match  # noqa: E402
from assay.rewards.code.reward import CodeReward  # noqa: E402
from assay.types import Sample  # noqa: E402

TIMEOUT = 5.0


# --- workload 1: HumanEval ---------------------------------------------------------------------
def humaneval_samples(data_dir: Path, problems: int) -> list[dict[str, Any]]:
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle][:problems]
    out = []
    for n, row in enumerate(rows):
        other = rows[(n + 1) % len(rows)]["canonical_solution"]
        solution = row["canonical_solution"]
        bodies = [
            ("canonical", solution), ("canonical", solution), ("canonical", solution),
            ("empty body", "    pass\n"),
            ("another problem's solution", other),
            ("raises", "    raise ValueError('not implemented')\n"),
            ("wrong constant", "    return 0\n"),
            ("cut in half", solution[: max(1, len(solution) // 2)].rstrip() + " (\n"),
        ]
        for kind, body in bodies:
            out.append({"task": row["task_id"], "kind": kind, "program": row["prompt"] + body, "test": row["test"], "entry_point": row["entry_point"]})
    return out


def humaneval_usual(samples: list[dict[str, Any]]) -> list[bool]:
    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "program.py"
        for s in samples:
            path.write_text(s["program"] + "\n\n" + s["test"] + f"\ncheck({s['entry_point']})\n")
            try:
                done = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=TIMEOUT)
                verdicts.append(done.returncode == 0)
            except subprocess.TimeoutExpired:
                verdicts.append(False)
    return verdicts


def humaneval_assay(samples: list[dict[str, Any]], backend: str) -> tuple[list[bool], list[str]]:
    reward = CodeReward(backend=backend, timeout_seconds=TIMEOUT)
    batch = [Sample(response=f"```python\n{s['program']}\n```", reference={"test": s["test"], "entry_point": s["entry_point"]}) for s in samples]
    judgments = reward.score(batch)
    failures = [j.rationale for j in judgments if not j.ok]
    return [j.score == 1.0 for j in judgments], failures


# --- workload 2: stdin/stdout, many cases per program ------------------------------------------
STDIO_PROBLEMS: dict[str, dict[str, Any]] = {
    "sum": {"gen": lambda r: f"{r.randint(-10**6, 10**6)} {r.randint(-10**6, 10**6)}\n", "solve": lambda s: str(sum(map(int, s.split()))),
            "right": ["a, b = map(int, input().split())\nprint(a + b)", "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))"],
            "wrong": ["a, b = map(int, input().split())\nprint(a - b)", "a, b = map(int, input().split())\nprint(abs(a + b))"]},
    "reverse": {"gen": lambda r: "".join(r.choice("abcxyz") for _ in range(r.randint(1, 30))) + "\n", "solve": lambda s: s.strip()[::-1],
                "right": ["print(input()[::-1])", "s = input()\nprint(''.join(reversed(s)))"],
                "wrong": ["print(input())", "s = input()\nprint(s[::-1][:-1] if len(s) > 5 else s[::-1])"]},
    "max": {"gen": lambda r: " ".join(str(r.randint(-99, 99)) for _ in range(r.randint(1, 20))) + "\n", "solve": lambda s: str(max(map(int, s.split()))),
            "right": ["print(max(map(int, input().split())))", "xs = sorted(int(x) for x in input().split())\nprint(xs[-1])"],
            "wrong": ["print(max(input().split()))", "xs = list(map(int, input().split()))\nprint(xs[0])"]},
    "vowels": {"gen": lambda r: "".join(r.choice("aeioubcdfg ") for _ in range(r.randint(1, 40))) + "\n", "solve": lambda s: str(sum(c in "aeiou" for c in s)),
               "right": ["print(sum(c in 'aeiou' for c in input()))", "s = input()\nprint(len([c for c in s if c in 'aeiou']))"],
               "wrong": ["print(sum(c in 'aeio' for c in input()))", "print(len(input()))"]},
    "fib": {"gen": lambda r: f"{r.randint(1, 300)}\n", "solve": lambda s: str(_fib(int(s)) % 1_000_000_007),
            "right": ["n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, (a + b) % 1000000007\nprint(a)",
                      "import functools, sys\nsys.setrecursionlimit(5000)\n@functools.lru_cache(None)\ndef f(n):\n    return n if n < 2 else (f(n - 1) + f(n - 2)) % "
                          "1000000007\nprint(f(int(input())))"],
            "wrong": ["n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)", "n = int(input())\na, b = 1, 1\nfor _ in range(n):\n    a, b = "
                "b, (a + b) % 1000000007\nprint(a)"]},
    "sort": {"gen": lambda r: " ".join(str(r.randint(0, 50)) for _ in range(r.randint(1, 15))) + "\n", "solve": lambda s: " ".join(map(str, sorted(map(int, s.split())))),
             "right": ["print(*sorted(map(int, input().split())))", "xs = [int(x) for x in input().split()]\nxs.sort()\nprint(' '.join(map(str, xs)))"],
             "wrong": ["print(*sorted(input().split()))", "print(*sorted(set(map(int, input().split()))))"]},
    "gcd": {"gen": lambda r: f"{r.randint(1, 10**9)} {r.randint(1, 10**9)}\n", "solve": lambda s: str(__import__("math").gcd(*map(int, s.split()))),
            "right": ["import math\nprint(math.gcd(*map(int, input().split())))", "a, b = map(int, input().split())\nwhile b:\n    a, b = b, a % b\nprint(a)"],
            "wrong": ["a, b = map(int, input().split())\nprint(min(a, b))", "import math\na, b = map(int, input().split())\nprint(a * b // math.gcd(a, b))"]},
    "palindrome": {"gen": lambda r: (lambda w: w + (w[::-1] if r.random() < 0.5 else "q"))("".join(r.choice("ab") for _ in range(r.randint(1, 8)))) + "\n",
                   "solve": lambda s: "YES" if s.strip() == s.strip()[::-1] else "NO",
                   "right": ["s = input()\nprint('YES' if s == s[::-1] else 'NO')", "s = input().strip()\nok = all(s[i] == s[-1 - i] for i in range(len(s)))\nprint('YES' if ok else 'NO')"],
                   "wrong": ["s = input()\nprint('YES' if s[0] == s[-1] else 'NO')", "print('YES')"]},
}


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def stdio_programs(cases_per_problem: int) -> list[dict[str, Any]]:
    out = []
    for name, problem in STDIO_PROBLEMS.items():
        rng = random.Random(f"code_throughput:{name}")
        inputs = [problem["gen"](rng) for _ in range(cases_per_problem)]
        cases = [{"input": i, "output": problem["solve"](i) + "\n"} for i in inputs]
        for kind in ("right", "wrong"):
            for program in problem[kind]:
                out.append({"problem": name, "kind": kind, "program": program, "cases": cases})
    return out


def stdio_usual(programs: list[dict[str, Any]]) -> list[float]:
    fractions = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "program.py"
        for p in programs:
            path.write_text(p["program"])
            passed = 0
            for case in p["cases"]:
                try:
                    done = subprocess.run([sys.executable, str(path)], input=case["input"], capture_output=True, text=True, timeout=TIMEOUT)
                    passed += done.returncode == 0 and outputs_match(done.stdout, case["output"])
                except subprocess.TimeoutExpired:
                    pass
            fractions.append(passed / len(p["cases"]))
    return fractions


def stdio_assay(programs: list[dict[str, Any]], backend: str) -> tuple[list[float], list[str]]:
    reward = CodeReward(backend=backend, timeout_seconds=TIMEOUT)
    judgments = reward.score([Sample(response=f"```python\n{p['program']}\n```", reference=p["cases"]) for p in programs])
    return [j.score for j in judgments], [j.rationale for j in judgments if not j.ok]


# --- the run ---------------------------------------------------------------------------------------
def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--cases", type=int, default=25)
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json, run nothing")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads((REPO / "perf" / "results" / "code_throughput.json").read_text())
        (REPO / "perf" / "results" / "code_throughput.md").write_text(report(results))
        return

    he = humaneval_samples(args.data_dir, args.problems)
    stdio = stdio_programs(args.cases)
    n_cases = sum(len(p["cases"]) for p in stdio)
    print(f"HumanEval: {len(he)} programs; stdin/stdout: {len(stdio)} programs, {n_cases} cases", flush=True)

    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_at_start": os.getloadavg()},
                               "humaneval": {"programs": len(he)}, "stdio": {"programs": len(stdio), "cases": n_cases}}
    CodeReward().score([Sample(response="```python\nprint(1)\n```", reference=[{"input": "", "output": "1"}])])  # probe the backend once

    usual, t_usual = timed(humaneval_usual, he)
    print(f"HumanEval usual: {t_usual:.1f} s", flush=True)
    (isolated, failed_iso), t_iso = timed(humaneval_assay, he, "bwrap")
    print(f"HumanEval assay (bwrap): {t_iso:.1f} s", flush=True)
    (plain, failed_plain), t_plain = timed(humaneval_assay, he, "subprocess")
    print(f"HumanEval assay (subprocess): {t_plain:.1f} s", flush=True)
    differ = [{"task": s["task"], "kind": s["kind"], "usual": u, "assay": a} for s, u, a in zip(he, usual, isolated) if u != a]
    differ_plain = sum(u != a for u, a in zip(usual, plain))
    results["humaneval"].update({
        "seconds": {"usual": round(t_usual, 2), "assay_bwrap": round(t_iso, 2), "assay_subprocess": round(t_plain, 2)},
        "programs_per_second": {"usual": round(len(he) / t_usual, 1), "assay_bwrap": round(len(he) / t_iso, 1), "assay_subprocess": round(len(he) / t_plain, 1)},
        "speedup_bwrap_vs_usual": round(t_usual / t_iso, 2),
        "isolation_cost_per_program_ms": round((t_iso - t_plain) / len(he) * 1000, 1),
        "passed": {"usual": sum(usual), "assay_bwrap": sum(isolated), "assay_subprocess": sum(plain)},
        "verdicts_differ": differ, "verdicts_differ_subprocess": differ_plain, "sandbox_failures": failed_iso + failed_plain,
    })

    s_usual, ts_usual = timed(stdio_usual, stdio)
    print(f"stdio usual (one process per case): {ts_usual:.1f} s", flush=True)
    (s_iso, sf_iso), ts_iso = timed(stdio_assay, stdio, "bwrap")
    (s_plain, sf_plain), ts_plain = timed(stdio_assay, stdio, "subprocess")
    print(f"stdio assay: bwrap {ts_iso:.1f} s, subprocess {ts_plain:.1f} s", flush=True)
    s_differ = [{"problem": p["problem"], "kind": p["kind"], "usual": u, "assay": a} for p, u, a in zip(stdio, s_usual, s_iso) if abs(u - a) > 1e-9]
    results["stdio"].update({
        "seconds": {"usual": round(ts_usual, 2), "assay_bwrap": round(ts_iso, 2), "assay_subprocess": round(ts_plain, 2)},
        "cases_per_second": {"usual": round(n_cases / ts_usual, 1), "assay_bwrap": round(n_cases / ts_iso, 1), "assay_subprocess": round(n_cases / ts_plain, 1)},
        "speedup_bwrap_vs_usual": round(ts_usual / ts_iso, 2),
        "verdicts_differ": s_differ, "verdicts_differ_subprocess": sum(abs(u - a) > 1e-9 for u, a in zip(s_usual, s_plain)),
        "sandbox_failures": sf_iso + sf_plain,
    })

    out_dir = REPO / "perf" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "code_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "code_throughput.md").write_text(report(results))
    print(report(results))
    ok = not differ and not s_differ and not differ_plain and not results["stdio"]["verdicts_differ_subprocess"]
    sys.exit(0 if ok and not (failed_iso or failed_plain or sf_iso or sf_plain) else 1)


def report(r: dict[str, Any]) -> str:
    he, st = r["humaneval"], r["stdio"]
    load = ", ".join(f"{x:.1f}" for x in r["machine"]["load_average_at_start"])
    return f"""# Code reward throughput

`perf/code_throughput.py` on {r['machine']['cpus']} CPUs (load average at start: {load}; Python {r['machine']['python']}).
"usual" is one `subprocess.run([sys.executable, program])` per sample (per case), one after
another, no isolation; "assay" is the `code` reward: bubblewrap sandbox, shared pool (one
sandbox per core), up to 8 programs per sandbox start (a clean slate between them), all the
cases of a program in one start; "no isolation" is the same reward and pool on the
`subprocess` backend.

Where the speed comes from: the pool (2 cores here), paying a sandbox start once per batch
of programs (and once per program rather than once per case for stdin/stdout), and a Python
started with the standard library only (`-S`, no site-packages: the usual way's
`sys.executable` of a virtual environment with many packages spends tens of milliseconds
just importing `site`). The figures are from a machine shared with other jobs.

## HumanEval: {he['programs']} programs (8 per problem: 3 canonical, 5 wrong)

| way | seconds | programs/s | passed |
|---|---:|---:|---:|
| usual | {he['seconds']['usual']} | {he['programs_per_second']['usual']} | {he['passed']['usual']} |
| assay (bubblewrap) | {he['seconds']['assay_bwrap']} | {he['programs_per_second']['assay_bwrap']} | {he['passed']['assay_bwrap']} |
| assay (no isolation) | {he['seconds']['assay_subprocess']} | {he['programs_per_second']['assay_subprocess']} | {he['passed']['assay_subprocess']} |

Speed-up with full isolation: **{he['speedup_bwrap_vs_usual']}x**. The isolation itself costs
{he['isolation_cost_per_program_ms']} ms per program (bubblewrap vs the same pool without it).
Verdicts that differ from the usual way: {len(he['verdicts_differ'])} (bubblewrap), {he['verdicts_differ_subprocess']} (no isolation).

## stdin/stdout: {st['programs']} programs, {st['cases']} cases

| way | seconds | cases/s |
|---|---:|---:|
| usual (one process per case) | {st['seconds']['usual']} | {st['cases_per_second']['usual']} |
| assay (bubblewrap, one sandbox per program) | {st['seconds']['assay_bwrap']} | {st['cases_per_second']['assay_bwrap']} |
| assay (no isolation) | {st['seconds']['assay_subprocess']} | {st['cases_per_second']['assay_subprocess']} |

Speed-up with full isolation: **{st['speedup_bwrap_vs_usual']}x**. Per-program fractions that
differ from the usual way: {len(st['verdicts_differ'])} (bubblewrap), {st['verdicts_differ_subprocess']} (no isolation).
"""


if __name__ == "__main__":
    main()
