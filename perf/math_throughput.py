"""Throughput and label agreement of the ``math`` reward against the usual ways to check math.

On GSM8K's labelled example solutions (1,319 questions x 4 models = 5,276 responses) and
Qwen2.5-Math's math_cot_100 (100 MATH problems x 8 responses), in one run:

- assay's ``math`` reward (fast path + math-verify in a killable worker pool);
- (a) math-verify as usually called: ``parse(gold)``, ``parse(response)``, ``verify(gold,
  pred)`` one after another in this process, no isolation (SIGALRM timeouts, main thread);
- (b) TRL's ``trl.rewards.accuracy_reward`` (math-verify underneath, LaTeX-only extraction);
- (c) veRL's string-normalising scorer ``verl.utils.reward_score.math_reward.compute_score``
  (last ``\\boxed{}``, Hendrycks MATH normalisation), when veRL is installed.

It reports checks per second, assay's speed-up over (a), agreement with the files' labels,
every verdict where assay and (a) differ (with both rationales), and every disagreement of
assay with the labels. Results go to ``perf/results/math_throughput.{json,md}``.

    .venv/bin/python perf/math_throughput.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assay.rewards.math.reward import MathReward  # noqa: E402
from assay.types import Sample  # noqa: E402


def load_gsm8k(data_dir: Path) -> list[dict[str, Any]]:
    rows = []
    with open(data_dir / "gsm8k" / "example_model_solutions.jsonl") as handle:
        for line_no, line in enumerate(handle):
            row = json.loads(line)
            gold = row["ground_truth"].rsplit("A:", 1)[1].strip()
            for key, value in row.items():
                if isinstance(value, dict) and "solution" in value:
                    rows.append({"id": f"{line_no}:{key}", "response": value["solution"], "gold": gold, "label": bool(value["is_correct"])})
    return rows


def load_math_cot(data_dir: Path) -> list[dict[str, Any]]:
    rows = []
    with open(data_dir / "math-bon" / "math_cot_100.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            for i, (response, label) in enumerate(zip(row["code"], row["score"], strict=True)):
                rows.append({"id": f"{row['idx']}:{i}", "response": response, "gold": str(row["gt"]), "label": bool(label)})
    return rows


def run_assay(rows: list[dict[str, Any]], reward: MathReward) -> tuple[list[float | None], list[str], float]:
    samples = [Sample(response=r["response"], reference=r["gold"], id=r["id"]) for r in rows]
    start = time.perf_counter()
    judgments = reward.score(samples)
    elapsed = time.perf_counter() - start
    return [j.score for j in judgments], [j.rationale for j in judgments], elapsed


def run_math_verify_sequential(rows: list[dict[str, Any]]) -> tuple[list[float | None], list[str], float]:
    from math_verify import parse, verify

    verify(parse("$\\frac{1}{2}$"), parse("\\boxed{0.5}"))  # first-call imports, outside the timing
    scores: list[float | None] = []
    notes: list[str] = []
    start = time.perf_counter()
    for r in rows:
        gold = parse(r["gold"])
        pred = parse(r["response"])
        scores.append(float(verify(gold, pred)))
        gold_text = str(gold[-1]) if gold else ""
        if "".join(gold_text.split()) != "".join(r["gold"].split()):
            why = f"(a) parsed the bare reference {r['gold']!r} as {str(gold)[:80]} (no $...$ around it, so math-verify read only part of it)"
        else:
            why = f"(a) took {str(pred)[:80]} from the whole response, a different answer from the one assay extracted"
        notes.append(f"parsed {str(pred)[:120]} vs gold {str(gold)[:120]}; reason: {why}")
    return scores, notes, time.perf_counter() - start


def run_trl(rows: list[dict[str, Any]]) -> tuple[list[float | None], list[str], float]:
    from trl.rewards import accuracy_reward

    completions = [[{"role": "assistant", "content": r["response"]}] for r in rows]
    solutions = [r["gold"] for r in rows]
    accuracy_reward([[{"role": "assistant", "content": "\\boxed{0.5}"}]], ["$\\frac{1}{2}$"])  # warm, untimed
    start = time.perf_counter()
    scores = accuracy_reward(completions, solutions)
    return list(scores), [""] * len(rows), time.perf_counter() - start


def load_verl() -> tuple[Callable[[str, str], float] | None, str]:
    """veRL's ``math_reward`` module, loaded from its file: importing the ``verl`` package
    itself needs tensordict and torch extras that a reward benchmark should not pull in."""
    spec = importlib.util.find_spec("verl")
    if spec is None or not spec.submodule_search_locations:
        return None, "veRL is not installed (pip install --no-deps verl)"
    path = Path(list(spec.submodule_search_locations)[0]) / "utils" / "reward_score" / "math_reward.py"
    if not path.exists():
        return None, f"veRL is installed but {path} is missing"
    module_spec = importlib.util.spec_from_file_location("verl_math_reward", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    from importlib.metadata import version

    return module.compute_score, f"verl {version('verl')}, verl/utils/reward_score/math_reward.py (loaded from its file)"


def run_verl(rows: list[dict[str, Any]], compute_score: Callable[[str, str], float]) -> tuple[list[float | None], list[str], float]:
    start = time.perf_counter()
    scores = [float(compute_score(r["response"], r["gold"])) for r in rows]
    return scores, [""] * len(rows), time.perf_counter() - start


def agreement(scores: list[float | None], rows: list[dict[str, Any]]) -> float:
    right = sum(1 for s, r in zip(scores, rows) if s is not None and (s >= 0.5) == r["label"])
    return right / len(rows)


def bench_set(name: str, rows: list[dict[str, Any]], reward: MathReward, verl: Callable | None) -> dict[str, Any]:
    print(f"\n== {name}: {len(rows)} responses", flush=True)
    out: dict[str, Any] = {"name": name, "n": len(rows), "methods": {}}
    before = dict(reward.stats)
    a_scores, a_notes, a_time = run_assay(rows, reward)
    routed = {k: reward.stats[k] - before[k] for k in reward.stats}
    failures = sum(1 for s in a_scores if s is None)
    out["methods"]["assay"] = {"seconds": a_time, "checks_per_s": len(rows) / a_time, "agreement": agreement(a_scores, rows), "failures": failures, "routed": routed}
    print(f"assay math: {len(rows) / a_time:,.0f} checks/s, agreement {agreement(a_scores, rows):.4f}, routed {routed}", flush=True)

    mv_scores, mv_notes, mv_time = run_math_verify_sequential(rows)
    out["methods"]["math_verify_sequential"] = {"seconds": mv_time, "checks_per_s": len(rows) / mv_time, "agreement": agreement(mv_scores, rows)}
    print(f"(a) math-verify sequential: {len(rows) / mv_time:,.0f} checks/s, agreement {agreement(mv_scores, rows):.4f}", flush=True)

    trl_scores, _, trl_time = run_trl(rows)
    out["methods"]["trl_accuracy_reward"] = {"seconds": trl_time, "checks_per_s": len(rows) / trl_time, "agreement": agreement(trl_scores, rows), "none": sum(1 for s in trl_scores if s is None)}
    print(f"(b) TRL accuracy_reward: {len(rows) / trl_time:,.0f} checks/s, agreement {agreement(trl_scores, rows):.4f}", flush=True)

    if verl is not None:
        v_scores, _, v_time = run_verl(rows, verl)
        out["methods"]["verl_math_reward"] = {"seconds": v_time, "checks_per_s": len(rows) / v_time, "agreement": agreement(v_scores, rows)}
        print(f"(c) veRL math_reward: {len(rows) / v_time:,.0f} checks/s, agreement {agreement(v_scores, rows):.4f}", flush=True)

    out["speedup_vs_math_verify"] = mv_time / a_time
    out["differences_vs_math_verify"] = [
        {"id": r["id"], "label": r["label"], "assay": s, "math_verify": m, "assay_rationale": an, "math_verify_saw": mn}
        for r, s, m, an, mn in zip(rows, a_scores, mv_scores, a_notes, mv_notes)
        if s != m
    ]
    out["assay_label_disagreements"] = [
        {"id": r["id"], "label": r["label"], "assay": s, "gold": r["gold"], "assay_rationale": an, "response_tail": r["response"][-300:]}
        for r, s, an in zip(rows, a_scores, a_notes)
        if s is None or (s >= 0.5) != r["label"]
    ]
    print(f"speed-up over (a): {out['speedup_vs_math_verify']:.1f}x; assay vs (a) differ on {len(out['differences_vs_math_verify'])}; assay vs labels differ on "
        f"{len(out['assay_label_disagreements'])}", flush=True)
    return out


def write_markdown(result: dict[str, Any], path: Path) -> None:
    names = {
        "assay": "assay `math` (fast path + pool)",
        "math_verify_sequential": "(a) math-verify parse/parse/verify, sequential",
        "trl_accuracy_reward": "(b) TRL `accuracy_reward`",
        "verl_math_reward": "(c) veRL `math_reward.compute_score`",
    }
    lines = [
        "# math reward throughput",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`.",
        f"assay worker pool start-up (not in the timings below, paid once per process): {result['pool_startup_s']:.2f} s.",
        f"veRL: {result['verl']}.",
        "",
        "| set | method | checks/s | seconds | agreement with labels |",
        "|---|---|---:|---:|---:|",
    ]
    for s in result["sets"]:
        for key, m in s["methods"].items():
            lines.append(f"| {s['name']} ({s['n']}) | {names[key]} | {m['checks_per_s']:,.0f} | {m['seconds']:.2f} | {m['agreement'] * 100:.2f}% |")
    lines.append("")
    for s in result["sets"]:
        lines.append(f"**{s['name']}**: assay is {s['speedup_vs_math_verify']:.1f}x faster than (a); "
                     f"{s['methods']['assay']['routed']['fast']} responses settled on the fast path, "
                     f"{s['methods']['assay']['routed']['math_verify']} sent to math-verify; {s['methods']['assay']['failures']} failures.")
        lines.append("")
    for s in result["sets"]:
        lines.append(f"## {s['name']}: where assay and (a) differ ({len(s['differences_vs_math_verify'])})")
        lines.append("")
        for d in s["differences_vs_math_verify"]:
            lines.append(f"- `{d['id']}` label={d['label']}: assay {d['assay']} — {d['assay_rationale']}; (a) {d['math_verify']} — {d['math_verify_saw']}")
        lines.append("")
        lines.append(f"## {s['name']}: where assay and the labels differ ({len(s['assay_label_disagreements'])})")
        lines.append("")
        for d in s["assay_label_disagreements"]:
            tail = d["response_tail"].replace("\n", " ")[-160:]
            lines.append(f"- `{d['id']}` label={d['label']}, gold `{d['gold']}`: assay {d['assay']} — {d['assay_rationale']} (response ends: “…{tail}”)")
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("ASSAY_DATA_DIR", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--out", default=str(REPO / "perf" / "results"))
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    if not (data_dir / "gsm8k" / "example_model_solutions.jsonl").exists():
        sys.exit(f"data not found under {data_dir}: pass --data-dir or set ASSAY_DATA_DIR")
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    verl, verl_note = load_verl()
    print(verl_note, flush=True)
    reward = MathReward()
    start = time.perf_counter()
    reward.warm_up()
    startup = time.perf_counter() - start
    print(f"assay pool start-up: {startup:.2f} s ({reward.worker_count} workers)", flush=True)

    result = {
        "machine": f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}",
        "command": ".venv/bin/python perf/math_throughput.py",
        "pool_startup_s": startup,
        "workers": reward.worker_count,
        "verl": verl_note,
        "sets": [
            bench_set("GSM8K example solutions", load_gsm8k(data_dir), reward, verl),
            bench_set("math_cot_100", load_math_cot(data_dir), reward, verl),
        ],
    }
    reward.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "math_throughput.json").write_text(json.dumps(result, indent=1, default=str))
    write_markdown(result, out / "math_throughput.md")
    print(f"\nwrote {out / 'math_throughput.json'} and {out / 'math_throughput.md'}")


if __name__ == "__main__":
    main()
