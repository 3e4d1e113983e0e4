"""Rebuild the shipped default reward model (``assay/rewards/models/default_head/``).

Why: ``embedding_head`` with no ``head:`` scores with a head trained here, and its model card
(docs/rewards/default-rm.md) must be reproducible by one command. What not: the head's file
format (``assay.rewards.models.head``), the training loop (``assay.train.heads``), the
benchmark runs (``assay bench``; the card gives those commands).

Stages (each one reuses what the earlier ones left in ``--cache``, so nothing is encoded
twice):

1. **prepare**: training pairs from the data folder: AlpacaEval judgments (each model output
   against its reference output; only clear verdicts; subsampled so that the preferred
   response is the longer one in half of the pairs, against the annotators' length bias),
   HH-RLHF harmless-base pairs (split at the last assistant turn), GSM8K example solutions
   (a correct one against an incorrect one per question, ``<<calc>>`` marks removed), and
   off-topic pairs (a prompt's preferred AlpacaEval response against the preferred response
   to a lexically similar other prompt; no new texts; ``--off-topic*`` make them harder:
   neighbours by prompt embedding, any of the asked prompt's responses), and degenerate pairs
   (``--degenerate`` per prompt: a real answer against a reply that games the reward, the
   prompt echoed, its words repeated, a stock non-answer, a five-word fragment). Every
   prompt that matches a benchmark prompt (``assay.train.overlap``: exact after
   normalising, or a near duplicate by word 3-gram Jaccard/containment) is dropped; the
   counts go to ``overlap.json``.
2. **encode**: every distinct text once with the packaged MiniLM (its first 128 tokens,
   ``--max-length``; the head file records it and the reward scores at that length), in
   chunks saved as they finish (an interrupted run resumes; the later stages use the pairs
   whose texts are all encoded and say how many were not).
3. **mix** (not in the default stages): the off-topic constructions of ``MIXES`` compared on
   the held-out split, with a fixed evaluation-only set of hard off-topic pairs; the record
   (``mix.json``) says which one the rule picks and whether it is the run's own.
4. **select**: a held-out split by prompt (10 %), a few head variants fitted on the cached
   embeddings, each scored on the held-out pairs (per source and macro mean); the best by
   macro held-out accuracy is chosen. The benchmarks play no part in the choice.
5. **final**: the chosen variant refitted on all pairs and written to ``--output``
   (default: the package's ``default_head/default_rm.safetensors``) with ``training.json``.
6. **pmi** (not in the default stages): the weight of a prompt-response PMI term
   (``type: pmi``) added to the head in a composite config: the chosen variant fitted on the training
   split again, PMI (``--pmi-tokens`` response tokens, packaged Gemma-3-270M) scored on up to
   ``--pmi-pairs`` held-out pairs per source, and the weight from a fixed grid with the best
   mean held-out accuracy over all four sources (the off-topic pairs count here: they are
   the only held-out pairs that ask "is this an answer to this prompt"; ties go to the
   smaller weight). Written to ``pmi_weight.json`` in the cache; the card reports it. With
   ``--pmi-rule hard``, the mix stage's rule instead (the hard off-topic pairs in place of the
   easy ones): the card's "PMI beside the harder head".
7. **cross_encoder** (not in the default stages): a MiniLM cross-encoder trained by
   ``assay train rm`` (LoRA) on ``--ce-pairs`` training-split pairs, and its weight beside the
   head, chosen on the held-out split (:func:`cross_encoder`; ``ce.json``). The card's "A
   cross-encoder beside the head" experiment; not shipped.
8. **cosine** (not in the default stages): the weight of the prompt-response cosine (what
   the semantic baseline scores) added inside the head (head format /3), chosen on the
   held-out split with the mix stage's rule (:func:`cosine_weight`; ``cosine.json``); with
   ``final`` after it, the shipped head carries that weight.
9. **sizes** (not in the default stages): whether more AlpacaEval pairs help, from a cache
   prepared with ``--alpaca-pairs 30000``: the head trained with 5,000, 10,000 and 20,000 of
   them and scored on one shared held-out set with the mix stage's rule (:func:`alpaca_sizes`;
   ``sizes.json``).
10. **lengths** (not in the default stages): whether the encoder reading 256 tokens of each
    text instead of 128 helps (run ``encode`` with ``--max-length 256`` first): the head at
    each length on the same pairs and held-out set, by the mix stage's rule
    (:func:`encoder_lengths`; ``lengths.json``).
11. **degenerate** (not in the default stages): how many degenerate pairs per prompt, 0, 1,
    2 or 4, scored with an evaluation-only set of every kind for the held-out prompts
    (:func:`degenerate_counts`; ``degenerate.json``). It chose the shipped recipe's 2.

    ASSAY_DATA_DIR=../shared/data python perf/train_default_rm.py --cache /tmp/shiprm-cache
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assay.train.overlap import OverlapIndex, drop_overlapping, prompt_string  # noqa: E402
from assay.train.pairs import Pair, shared_prefix_as_prompt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "assay" / "rewards" / "models" / "default_head" / "default_rm.safetensors"
BENCHMARKS = ("rm-bench", "llmbar", "judgebench", "rmb", "rewardbench", "rewardbench2")
_CALC = re.compile(r"<<[^>]*>>")

# the variants the select stage compares (fitted on the cached embeddings: seconds each)
VARIANTS: list[dict[str, Any]] = [
    {"features": "response", "hidden": [], "epochs": 12, "batch_size": 256, "lr": 3e-3, "weight_decay": 1e-2},
    {"features": "response", "hidden": [128], "epochs": 12, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-2},
    {"features": "prompt_response", "hidden": [], "epochs": 12, "batch_size": 256, "lr": 3e-3, "weight_decay": 1e-2},
    {"features": "prompt_response", "hidden": [128], "epochs": 12, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-2},
    {"features": "interaction", "hidden": [], "epochs": 12, "batch_size": 256, "lr": 3e-3, "weight_decay": 1e-2},
    {"features": "interaction", "hidden": [128], "epochs": 12, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-2},
    {"features": "interaction", "hidden": [256, 64], "epochs": 12, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-2},
]


class OffTopic(NamedTuple):
    """How the off-topic pairs are made (:func:`off_topic_pairs`). The defaults are the shipped
    model's; the harder construction the mix stage chose, ``OffTopic(10, "embedding", 10,
    "any")``, is the card's "Harder off-topic pairs" experiment."""

    per_prompt: int = 3
    by: str = "words"  # word-set Jaccard; or "embedding": prompt cosine under the packaged encoder
    neighbours: int = 10
    chosen_from: str = "preferred"  # or "any": the asked prompt's dispreferred responses too


REAL_SOURCES = ("alpacaeval", "hh-harmless", "gsm8k")  # the choice is by their mean; off-topic pairs are made up


# --- 1. prepare -------------------------------------------------------------------------------
def alpaca_pairs(data: Path, clear: float = 0.05) -> list[dict[str, Any]]:
    """AlpacaEval: preference 1 = the reference won, 2 = the model output won; judgments of one
    (instruction, output, reference) are averaged; a pair is kept when the mean lies within
    ``clear`` of 1 or 2."""
    refs = {}
    with gzip.open(data / "alpacaeval" / "references.jsonl.gz", "rt") as handle:
        for line in handle:
            row = json.loads(line)
            refs[row["reference_id"]] = row["output"]
    votes: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    with gzip.open(data / "alpacaeval" / "judged_outputs.jsonl.gz", "rt") as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("preference") is None or not (row.get("output") or "").strip():
                continue
            votes[(row["instruction"], row["output"], row["reference_id"])].append(float(row["preference"]))
    out = []
    for (instruction, output, ref_id), prefs in votes.items():
        mean = sum(prefs) / len(prefs)
        reference = refs.get(ref_id, "")
        if not reference.strip() or output.strip() == reference.strip():
            continue
        if mean >= 2 - clear:
            chosen, rejected = output, reference
        elif mean <= 1 + clear:
            chosen, rejected = reference, output
        else:
            continue
        out.append({"source": "alpacaeval", "prompt": instruction, "chosen": chosen, "rejected": rejected})
    return out


def length_balanced(pairs: list[dict[str, Any]], limit: int, seed: int) -> list[dict[str, Any]]:
    """``limit`` pairs (seeded), half with the longer response preferred and half the shorter
    (AlpacaEval's annotators prefer the longer output in most pairs; a head would learn length)."""
    longer_better = [p for p in pairs if len(p["chosen"]) > len(p["rejected"])]
    shorter_better = [p for p in pairs if len(p["chosen"]) <= len(p["rejected"])]
    rng = random.Random(f"{seed}:alpaca")
    rng.shuffle(longer_better)
    rng.shuffle(shorter_better)
    half = min(limit // 2, len(longer_better), len(shorter_better))
    return longer_better[:half] + shorter_better[:half]


def off_topic_pairs(pairs: list[dict[str, Any]], per_prompt: int, seed: int, neighbours: int = 10,
                    similarity: Any = None, chosen_from: str = "preferred", source: str = "off-topic") -> list[dict[str, Any]]:
    """For each prompt, a response to it against a preferred response to a *similar other*
    prompt (one of its ``neighbours`` closest): an answer to another question is worse,
    however good. ``similarity`` is a prompts x prompts matrix (rows in sorted prompt order,
    e.g. embedding cosines); without it, word-set Jaccard (the first recipe's). The response
    to the asked prompt is its preferred one (``chosen_from="preferred"``) or any of its
    responses, the dispreferred ones too (``"any"``: a weak answer to the question still beats
    a polished answer to another). Only texts already in ``pairs``, so nothing more to encode."""
    rng = random.Random(f"{seed}:{source}")
    good: dict[str, list[str]] = defaultdict(list)
    every: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        good[pair["prompt"]].append(pair["chosen"])
        every[pair["prompt"]].update((pair["chosen"], pair["rejected"]))
    prompts = sorted(good)
    if similarity is None:
        words = [frozenset(w for w in re.findall(r"\w+", p.casefold()) if len(w) > 3) for p in prompts]
    out = []
    for i, prompt in enumerate(prompts):
        if similarity is None:
            ranked = sorted((len(words[i] & words[j]) / max(1, len(words[i] | words[j])), j) for j in range(len(prompts)) if j != i)
        else:
            ranked = sorted((float(similarity[i][j]), j) for j in range(len(prompts)) if j != i)
        close = [j for _, j in ranked[-neighbours:]]
        for j in rng.sample(close, min(per_prompt, len(close))):
            own = rng.choice(good[prompt]) if chosen_from == "preferred" else rng.choice(sorted(every[prompt]))
            out.append({"source": source, "prompt": prompt, "chosen": own, "rejected": rng.choice(good[prompts[j]])})
    return out


DEGENERATE_KINDS = {  # source -> the degenerate kinds (assay.train.degenerate) worse than any real answer to its prompts
    "alpacaeval": ("echo", "repeat", "stock", "fragment"),
    "gsm8k": ("echo", "repeat", "stock", "fragment"),
    "hh-harmless": ("echo", "repeat"),  # a short non-answer or a cut reply may be the right one to a harmful request
}


def degenerate_pairs(pairs: list[dict[str, Any]], per_prompt: int, seed: int, source: str = "degenerate") -> list[dict[str, Any]]:
    """For each prompt of the sources in :data:`DEGENERATE_KINDS`, a preferred response to it
    against ``per_prompt`` degenerate replies of different kinds
    (:func:`assay.train.degenerate.degenerate_triples`): a real answer beats a reply that
    games the reward. New texts (echoes are the prompts' own)."""
    from assay.train.degenerate import degenerate_triples

    good: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, tuple[str, ...]] = {}
    for pair in pairs:
        if pair["source"] in DEGENERATE_KINDS:
            good[pair["prompt"]].append(pair["chosen"])
            kinds[pair["prompt"]] = DEGENERATE_KINDS[pair["source"]]
    triples = degenerate_triples(good, per_prompt, random.Random(f"{seed}:{source}"), kinds)
    return [{"source": source, "kind": kind, "prompt": prompt, "chosen": chosen, "rejected": rejected} for prompt, chosen, rejected, kind in triples]


def prompt_similarity(pairs: list[dict[str, Any]], store: EmbeddingStore, max_length: int) -> Any:
    """Cosine similarity of the pairs' distinct prompts (sorted), under the packaged encoder;
    prompts not in ``store`` yet are encoded into it (the encode stage then skips them)."""
    prompts = sorted({p["prompt"] for p in pairs})
    encode_into(store, prompts, max_length)
    vectors = store.matrix(prompts)
    return vectors @ vectors.T


def hh_pairs(data: Path) -> list[dict[str, Any]]:
    out = []
    with gzip.open(data / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt") as handle:
        for number, line in enumerate(handle, 1):
            row = json.loads(line)
            pair = shared_prefix_as_prompt(Pair("", row["chosen"], row["rejected"], None, number))
            if pair.prompt and pair.chosen.strip() and pair.rejected.strip() and pair.chosen != pair.rejected:
                out.append({"source": "hh-harmless", "prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected})
    return out


def gsm8k_pairs(data: Path, limit: int, seed: int) -> list[dict[str, Any]]:
    """One pair per question: a correct solution (a model's, else the reference) against an
    incorrect model solution."""
    rng = random.Random(f"{seed}:gsm8k")
    out = []
    with open(data / "gsm8k" / "example_model_solutions.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            solutions = [v for v in row.values() if isinstance(v, dict) and "is_correct" in v]
            right = [_CALC.sub("", s["solution"]) for s in solutions if s["is_correct"]]
            wrong = [_CALC.sub("", s["solution"]) for s in solutions if not s["is_correct"]]
            if not right:
                right = [_CALC.sub("", row["ground_truth"])]
            if wrong:
                out.append({"source": "gsm8k", "prompt": row["question"], "chosen": rng.choice(right), "rejected": rng.choice(wrong)})
    rng.shuffle(out)
    return out[:limit]


def benchmark_prompts(data: Path) -> dict[str, list[str]]:
    """Every prompt of each benchmark present in the data folder (read by assay's own loaders)."""
    from assay.bench.loaders import load

    found = {}
    for name in BENCHMARKS:
        if not (data / name).is_dir():
            continue
        loaded = load(name, data)
        found[name] = [prompt_string(item.prompt) for item in loaded.items]
    return found


def prepare(data: Path, cache: Path, alpaca_limit: int, gsm8k_limit: int, seed: int, off_topic: OffTopic, max_length: int,
            degenerate: int = 0) -> dict[str, Any]:
    started = time.perf_counter()
    index = OverlapIndex(benchmark_prompts(data))
    sources = {
        "alpacaeval": alpaca_pairs(data),
        "hh-harmless": hh_pairs(data),
        "gsm8k": gsm8k_pairs(data, gsm8k_limit, seed),
    }
    pairs, record = [], {"benchmarks": index.names, "sources": {}}
    for name, rows in sources.items():
        kept, counts = drop_overlapping(rows, lambda r: r["prompt"], index)
        if name == "alpacaeval":
            kept = length_balanced(kept, alpaca_limit, seed)
        counts["pairs_used"] = len(kept)
        record["sources"][name] = counts
        pairs += kept
    alpaca = [p for p in pairs if p["source"] == "alpacaeval"]
    similarity = prompt_similarity(alpaca, EmbeddingStore(cache / f"embeddings-{max_length}"), max_length) if off_topic.by == "embedding" else None
    extra = off_topic_pairs(alpaca, off_topic.per_prompt, seed, off_topic.neighbours, similarity, off_topic.chosen_from) if off_topic.per_prompt else []
    record["sources"]["off-topic"] = {"pairs_used": len(extra), "from": "alpacaeval pairs after overlap removal", **off_topic._asdict()}
    games = degenerate_pairs(pairs, degenerate, seed) if degenerate else []
    record["sources"]["degenerate"] = {"pairs_used": len(games), "per_prompt": degenerate}
    pairs += extra + games
    record["pairs"] = len(pairs)
    record["seconds"] = round(time.perf_counter() - started, 1)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "pairs.jsonl", "w") as handle:
        for row in pairs:
            handle.write(json.dumps(row) + "\n")
    (cache / "overlap.json").write_text(json.dumps(record, indent=2))
    return record


# --- 2. encode --------------------------------------------------------------------------------
def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingStore:
    """Unit-norm embeddings keyed by the text's sha1, in .npy chunks under ``folder``."""

    def __init__(self, folder: Path) -> None:
        import numpy as np

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.vectors: dict[str, Any] = {}
        for keys_file in sorted(folder.glob("chunk-*.json")):
            matrix = np.load(keys_file.with_suffix(".npy"))
            for i, key in enumerate(json.loads(keys_file.read_text())):
                self.vectors[key] = matrix[i]

    def missing(self, texts: list[str]) -> list[str]:
        return [t for t in dict.fromkeys(texts) if _key(t) not in self.vectors]

    def add(self, texts: list[str], matrix: Any) -> None:
        import numpy as np

        name = f"chunk-{len(list(self.folder.glob('chunk-*.json'))):05d}"
        np.save(self.folder / f"{name}.npy", matrix.astype(np.float32))
        (self.folder / f"{name}.json").write_text(json.dumps([_key(t) for t in texts]))
        for text, row in zip(texts, matrix):
            self.vectors[_key(text)] = row

    def matrix(self, texts: list[str]) -> Any:
        import numpy as np

        return np.stack([self.vectors[_key(t)] for t in texts])


def encode_into(store: EmbeddingStore, texts: list[str], max_length: int, chunk: int = 256) -> int:
    """Encode the ``texts`` missing from ``store`` with the packaged MiniLM, a chunk at a time
    (each saved as it finishes, so an interrupted run resumes); returns how many were encoded."""
    import numpy as np

    from assay.backends.encoder import encode_distinct
    from assay.backends.local_models import sentence_encoder

    todo = store.missing(texts)
    if not todo:
        return 0
    encoder = sentence_encoder()
    started, done = time.perf_counter(), 0
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        encoded = encode_distinct(encoder, part, max_length=max_length)
        if encoded.failed:
            text, error = next(iter(encoded.failed.items()))
            raise RuntimeError(f"the encoder failed on a text ({text[:60]!r}...): {error}")
        store.add(part, np.stack([encoded.vectors[t].numpy() for t in part]))
        done += len(part)
        print(f"encoded {done}/{len(todo)} texts, {done / (time.perf_counter() - started):.1f}/s", flush=True)
    return len(todo)


def read_cached_pairs(cache: Path) -> list[dict[str, Any]]:
    with open(cache / "pairs.jsonl") as handle:
        return [json.loads(line) for line in handle]


def encode(cache: Path, max_length: int, seed: int) -> dict[str, Any]:
    """Encode what is missing: the prompts first, then the pairs' responses in a seeded
    random order, so that a run stopped early leaves every source partly covered (the later
    stages use the pairs whose texts are all encoded)."""
    pairs = read_cached_pairs(cache)
    store = EmbeddingStore(cache / f"embeddings-{max_length}")
    order = list(pairs)
    random.Random(f"{seed}:encode").shuffle(order)
    texts = [p["prompt"] for p in order] + [t for p in order for t in (p["chosen"], p["rejected"])]
    started = time.perf_counter()
    encoded = encode_into(store, texts, max_length)
    seconds = time.perf_counter() - started
    return {"texts": len(set(texts)), "encoded_now": encoded, "seconds": round(seconds, 1), "texts_per_second": round(encoded / seconds, 2) if encoded else None}


# --- 4. select and 5. final -------------------------------------------------------------------
def split_by_prompt(pairs: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    prompts = sorted({p["prompt"] for p in pairs})
    random.Random(f"{seed}:prompts").shuffle(prompts)
    held = set(prompts[: round(len(prompts) * fraction)])
    train = [i for i, p in enumerate(pairs) if p["prompt"] not in held]
    return train, [i for i, p in enumerate(pairs) if p["prompt"] in held]


def encoded_pairs(cache: Path, max_length: int) -> tuple[list[dict[str, Any]], EmbeddingStore, int]:
    """The pairs whose three texts are all in the store, the store, and how many pairs lack some."""
    pairs = read_cached_pairs(cache)
    store = EmbeddingStore(cache / f"embeddings-{max_length}")
    ready = [p for p in pairs if not store.missing([p["prompt"], p["chosen"], p["rejected"]])]
    return ready, store, len(pairs) - len(ready)


def feature_rows(store: EmbeddingStore, pairs: list[dict[str, Any]], kind: str) -> tuple[Any, Any]:
    import torch

    from assay.rewards.models.head import combine_features

    p = torch.from_numpy(store.matrix([r["prompt"] for r in pairs]))
    c = torch.from_numpy(store.matrix([r["chosen"] for r in pairs]))
    r = torch.from_numpy(store.matrix([r["rejected"] for r in pairs]))
    return combine_features(p, c, kind), combine_features(p, r, kind)


def accuracy_by_source(sources: list[str], right: list[bool]) -> dict[str, float]:
    """The share of right pairs per source (``right[i]``: pair i of ``sources[i]`` ranked right)."""
    by: dict[str, list[bool]] = defaultdict(list)
    for source, ok in zip(sources, right):
        by[source].append(bool(ok))
    return {s: round(sum(v) / len(v), 4) for s, v in sorted(by.items())}


def held_out_right(head: Any, chosen: Any, rejected: Any) -> list[bool]:
    """Per pair: does the head score the chosen response above the rejected one?"""
    import torch

    with torch.inference_mode():
        return (head(chosen) > head(rejected)).tolist()


def held_out_accuracy(head: Any, chosen: Any, rejected: Any, sources: list[str]) -> dict[str, float]:
    right = held_out_right(head, chosen, rejected)
    out = accuracy_by_source(sources, right)
    real = [out[s] for s in REAL_SOURCES if s in out]
    out["macro"] = round(sum(real) / len(real), 4)
    out["micro"] = round(sum(right) / len(right), 4)
    return out


RULE_SOURCES = (*REAL_SOURCES, "hard-off-topic")  # the mix and cross_encoder stages choose by the mean over these


def hard_off_topic(alpaca: list[dict[str, Any]], similarity: Any, seed: int) -> list[dict[str, Any]]:
    """The evaluation-only hard off-topic pairs: per prompt, answers to 2 of its 3 nearest
    prompts by embedding. No recipe trains on them."""
    return off_topic_pairs(alpaca, 2, seed, 3, similarity, "any", source="hard-off-topic")


def held_out_with_hard(rows: list[dict[str, Any]], hard: list[dict[str, Any]], seed: int) -> tuple[list[int], list[dict[str, Any]]]:
    """The training split's indices of ``rows``, and the pairs a choice is scored on: the
    held-out prompts' rows, then the hard off-topic pairs of those prompts."""
    train, held = split_by_prompt(rows, 0.1, seed)
    held_prompts = {rows[i]["prompt"] for i in held}
    return train, [rows[i] for i in held] + [p for p in hard if p["prompt"] in held_prompts]


def weight_grid(sources: list[str], base: Any, extra: Any, weights: tuple[float, ...], key: str,
                mean_of: tuple[str, ...] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Held-out accuracy of ``base + w * extra`` for each weight (arrays of (chosen, rejected)
    scores, a row per pair of ``sources``), with the mean over ``mean_of`` (default: every
    source); and the best row, ties going to the smaller weight."""
    grid = []
    for weight in weights:
        total = base + weight * extra
        accuracy = accuracy_by_source(sources, list(total[:, 0] > total[:, 1]))
        over = mean_of or tuple(accuracy)
        accuracy["mean"] = round(sum(accuracy[s] for s in over) / len(over), 4)
        grid.append({key: weight, "held_out": accuracy})
        print(json.dumps(grid[-1]), flush=True)
    return grid, max(grid, key=lambda row: (row["held_out"]["mean"], -row[key]))


def select(cache: Path, max_length: int, seed: int) -> dict[str, Any]:
    from assay.train.heads import fit_head_on_features

    pairs, store, not_encoded = encoded_pairs(cache, max_length)
    train, held = split_by_prompt(pairs, 0.1, seed)
    results = []
    for variant in VARIANTS:
        started = time.perf_counter()
        chosen, rejected = feature_rows(store, pairs, variant["features"])
        history: list[dict[str, float]] = []
        head = fit_head_on_features(chosen[train], rejected[train], seed=seed, eval_chosen=chosen[held], eval_rejected=rejected[held], history=history, log_every=1, **variant)
        accuracy = held_out_accuracy(head, chosen[held], rejected[held], [pairs[i]["source"] for i in held])
        curve = [round(row["eval_accuracy"], 4) for row in history]
        results.append({**variant, "held_out": accuracy, "held_out_micro_by_epoch": curve, "train_accuracy": round(history[-1]["accuracy"], 4),
                        "seconds": round(time.perf_counter() - started, 1)})
        print(json.dumps(results[-1]), flush=True)
    best = max(results, key=lambda r: r["held_out"]["macro"])
    record = {"train_pairs": len(train), "held_out_pairs": len(held), "pairs_not_encoded": not_encoded, "variants": results, "chosen": best}
    (cache / "select.json").write_text(json.dumps(record, indent=2))
    return record


def final(cache: Path, output: Path, max_length: int, seed: int, variant: dict[str, Any] | None = None, cosine: bool = False) -> dict[str, Any]:
    """The chosen variant (``select.json``'s unless given) refitted on every pair and saved to
    ``output`` with ``training.json``; with ``cosine``, carrying ``cosine.json``'s weight."""
    import resource

    from assay.train.heads import fit_head_on_features

    if variant is None:
        chosen_variant = json.loads((cache / "select.json").read_text())["chosen"]
        variant = {k: chosen_variant[k] for k in ("features", "hidden", "epochs", "batch_size", "lr", "weight_decay")}
    pairs, store, not_encoded = encoded_pairs(cache, max_length)
    started = time.perf_counter()
    chosen, rejected = feature_rows(store, pairs, variant["features"])
    history: list[dict[str, float]] = []
    head = fit_head_on_features(chosen, rejected, seed=seed, history=history, **variant)
    seconds = time.perf_counter() - started
    head.config["max_length"] = max_length  # the reward encodes at this length unless told otherwise
    made = [name for source, name in (("off-topic", "off-topic"), ("degenerate", "degenerate replies")) if any(p["source"] == source for p in pairs)]
    head.config["trained_on"] = ("perf/train_default_rm.py: AlpacaEval (length-balanced, clear verdicts), HH-RLHF harmless-base test, GSM8K example solutions"
                                 + (f"; made-up {' and '.join(made)} pairs" if made else "") + "; benchmark prompts removed")
    cosine_record = json.loads((cache / "cosine.json").read_text()) if cosine else None
    if cosine_record and cosine_record["raw_weight"]:  # weight 0: the plain head, format /2
        head = head.with_cosine(cosine_record["raw_weight"])
    path = head.save(output)
    counts: dict[str, int] = defaultdict(int)
    for p in pairs:
        counts[p["source"]] += 1
    record = {
        "variant": variant, "max_length": max_length, "pairs": dict(counts), "pairs_not_encoded": not_encoded, "fit_seconds": round(seconds, 2),
        "pairs_per_second_per_epoch": round(len(pairs) * variant["epochs"] / seconds, 1),
        "final_train_accuracy": history[-1]["accuracy"], "final_train_loss": history[-1]["loss"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path), "bytes": path.stat().st_size,
    }
    (output.parent / "training.json").write_text(json.dumps({**record, "overlap": json.loads((cache / "overlap.json").read_text()),
                                                             "select": json.loads((cache / "select.json").read_text()) if (cache / "select.json").is_file() else None,
                                                             "cosine": cosine_record}, indent=2) + "\n")
    return record


def fit_and_score(store: EmbeddingStore, train_rows: list[dict[str, Any]], scored: list[dict[str, Any]], seed: int,
                  mean_over: tuple[str, ...] = RULE_SOURCES) -> tuple[Any, dict[str, float], tuple[Any, Any]]:
    """What the stages that compare recipes share: the head of :data:`MIX_VARIANT` fitted on
    ``train_rows``, its held-out accuracy on ``scored`` per source with the ``mean`` over
    ``mean_over`` (the rule), and the scored pairs' feature rows (chosen, rejected)."""
    from assay.train.heads import fit_head_on_features

    chosen, rejected = feature_rows(store, train_rows, MIX_VARIANT["features"])
    head = fit_head_on_features(chosen, rejected, seed=seed, **MIX_VARIANT)
    eval_rows = feature_rows(store, scored, MIX_VARIANT["features"])
    accuracy = held_out_accuracy(head, *eval_rows, [p["source"] for p in scored])
    accuracy["mean"] = round(sum(accuracy[s] for s in mean_over) / len(mean_over), 4)
    return head, accuracy, eval_rows


# the off-topic constructions the mix stage compares (the first is the first recipe's)
MIXES = (OffTopic(3, "words", 10, "preferred"), OffTopic(3, "embedding", 10, "any"), OffTopic(6, "embedding", 5, "any"),
         OffTopic(6, "embedding", 10, "any"), OffTopic(6, "embedding", 10, "preferred"), OffTopic(10, "embedding", 10, "any"),
         OffTopic(10, "embedding", 20, "any"), OffTopic(15, "embedding", 20, "any"))
MIX_VARIANT = VARIANTS[5]  # interaction, [128]: the first recipe's choice, so the mixes differ in their data only


def mix(cache: Path, max_length: int, seed: int, recipe: OffTopic) -> dict[str, Any]:
    """Compare the off-topic constructions of :data:`MIXES` on the held-out split: each mix's
    head (:data:`MIX_VARIANT`) scored on the three real sources and on a fixed evaluation-only
    set of *hard* off-topic pairs (per held-out prompt, answers to 2 of its 3 nearest prompts by
    embedding), none of them trained on. The rule: the best mean over those four. The record
    says whether the run's own construction (``recipe``) is the one the rule chose."""

    pairs, store, _ = encoded_pairs(cache, max_length)
    base = [p for p in pairs if p["source"] != "off-topic"]
    alpaca = [p for p in base if p["source"] == "alpacaeval"]
    similarity = prompt_similarity(alpaca, store, max_length)
    hard = hard_off_topic(alpaca, similarity, seed)
    results = []
    for off_topic in MIXES:
        rows = base + off_topic_pairs(alpaca, off_topic.per_prompt, seed, off_topic.neighbours,
                                      None if off_topic.by == "words" else similarity, off_topic.chosen_from)
        train, scored = held_out_with_hard(rows, hard, seed)
        _, accuracy, _ = fit_and_score(store, [rows[i] for i in train], scored, seed)
        results.append({"off_topic": off_topic._asdict(), "pairs": len(rows), "held_out": accuracy})
        print(json.dumps(results[-1]), flush=True)
    best = max(results, key=lambda r: r["held_out"]["mean"])
    record = {"variant": MIX_VARIANT, "hard_off_topic_pairs": len(hard), "mixes": results, "chosen": best["off_topic"],
              "recipe": recipe._asdict(), "chosen_is_recipe": best["off_topic"] == recipe._asdict()}
    (cache / "mix.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


DEGENERATE_COUNTS = (0, 1, 2, 4)
DEGENERATE_RULE = (*RULE_SOURCES, "held-out-degenerate")


def degenerate_counts(cache: Path, max_length: int, seed: int) -> dict[str, Any]:
    """How many degenerate pairs per prompt (:func:`degenerate_pairs`) to train on: for each of
    :data:`DEGENERATE_COUNTS`, the cache's pairs (its own degenerate ones left out) plus that
    many per prompt, the head (:data:`MIX_VARIANT`) fitted on the training split, and scored on
    the held-out pairs, the hard off-topic ones and an evaluation-only set of every degenerate
    kind for the held-out prompts. The rule: the best mean over :data:`DEGENERATE_RULE`, ties
    to the fewer. The new texts are encoded first (a minute). Writes ``degenerate.json``."""

    pairs, store, _ = encoded_pairs(cache, max_length)
    base = [p for p in pairs if p["source"] != "degenerate"]
    alpaca = [p for p in base if p["source"] == "alpacaeval"]
    hard = hard_off_topic(alpaca, prompt_similarity(alpaca, store, max_length), seed)
    _, held = split_by_prompt(base, 0.1, seed)
    held_prompts = {base[i]["prompt"] for i in held}
    probe = [p for p in degenerate_pairs(base, 4, seed, source="held-out-degenerate") if p["prompt"] in held_prompts]
    variants = {n: degenerate_pairs(base, n, seed) if n else [] for n in DEGENERATE_COUNTS}
    encode_into(store, [t for rows in (probe, *variants.values()) for p in rows for t in (p["chosen"], p["rejected"])], max_length)
    results = []
    for n, games in variants.items():
        rows = base + games
        train, scored = held_out_with_hard(rows, hard, seed)
        scored = [p for p in scored if p["source"] in RULE_SOURCES] + probe
        head, accuracy, (eval_chosen, eval_rejected) = fit_and_score(store, [rows[i] for i in train], scored, seed, DEGENERATE_RULE)
        kinds = accuracy_by_source([p["kind"] for p in probe], list(held_out_right(head, eval_chosen[-len(probe):], eval_rejected[-len(probe):])))
        results.append({"per_prompt": n, "train_pairs": len(train), "held_out": accuracy, "held_out_degenerate_by_kind": kinds})
        print(json.dumps(results[-1]), flush=True)
    best = max(results, key=lambda r: (r["held_out"]["mean"], -r["per_prompt"]))
    record = {"variant": MIX_VARIANT, "held_out_degenerate_pairs": len(probe), "counts": results, "chosen": best["per_prompt"],
              "chosen_by": "perf/train_default_rm.py stage degenerate: best mean held-out accuracy over " + ", ".join(DEGENERATE_RULE) + " (ties: the fewer)"}
    (cache / "degenerate.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


ENCODER_LENGTHS = (128, 256)


def encoder_lengths(cache: Path, seed: int) -> dict[str, Any]:
    """Does reading more of each text help? The head (:data:`MIX_VARIANT`) on the cache's pairs
    encoded at each of :data:`ENCODER_LENGTHS` tokens (the ``encode`` stage run once per
    ``--max-length``), fitted on the training split and scored on the held-out pairs with the
    hard off-topic ones (the same pairs for every length), by the mix stage's rule. Writes
    ``lengths.json``."""

    stores = {n: EmbeddingStore(cache / f"embeddings-{n}") for n in ENCODER_LENGTHS}
    pairs = [p for p in read_cached_pairs(cache) if not any(s.missing([p["prompt"], p["chosen"], p["rejected"]]) for s in stores.values())]
    alpaca = [p for p in pairs if p["source"] == "alpacaeval"]
    first = ENCODER_LENGTHS[0]
    train, scored = held_out_with_hard(pairs, hard_off_topic(alpaca, prompt_similarity(alpaca, stores[first], first), seed), seed)
    scored = [p for p in scored if p["source"] in RULE_SOURCES]
    results = []
    for n, store in stores.items():
        _, accuracy, _ = fit_and_score(store, [pairs[i] for i in train], scored, seed)
        results.append({"max_length": n, "held_out": accuracy})
        print(json.dumps(results[-1]), flush=True)
    best = max(results, key=lambda r: (r["held_out"]["mean"], -r["max_length"]))
    record = {"variant": MIX_VARIANT, "pairs": len(pairs), "held_out_pairs": {s: sum(p["source"] == s for p in scored) for s in RULE_SOURCES},
              "lengths": results, "chosen": best["max_length"],
              "chosen_by": "perf/train_default_rm.py stage lengths: best mean held-out accuracy over " + ", ".join(RULE_SOURCES) + " (ties: the shorter)"}
    (cache / "lengths.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


ALPACA_SIZES = (5000, 10000, 20000)


def alpaca_sizes(cache: Path, max_length: int, seed: int, recipe: OffTopic) -> dict[str, Any]:
    """Does more AlpacaEval data help? From a cache prepared with more AlpacaEval pairs than
    the largest size (``--alpaca-pairs 30000``), for each n of :data:`ALPACA_SIZES` the pairs
    ``--alpaca-pairs n`` would have drawn (the first n/2 of each length half), the recipe's
    off-topic pairs made from them, and the head (:data:`MIX_VARIANT`) fitted on the prompts
    outside one held-out set shared by every size: the full cache's held-out pairs with the hard
    off-topic ones. The rule: the mix stage's (mean over :data:`RULE_SOURCES`). Writes ``sizes.json``."""

    pairs, store, _ = encoded_pairs(cache, max_length)
    alpaca = [p for p in pairs if p["source"] == "alpacaeval"]
    others = [p for p in pairs if p["source"] in ("hh-harmless", "gsm8k")]
    _, scored = held_out_with_hard(pairs, hard_off_topic(alpaca, prompt_similarity(alpaca, store, max_length), seed), seed)
    scored = [p for p in scored if p["source"] in RULE_SOURCES]
    held_prompts = {p["prompt"] for p in scored}
    longer = [p for p in alpaca if len(p["chosen"]) > len(p["rejected"])]  # prepare wrote each half in its drawn order
    shorter = [p for p in alpaca if len(p["chosen"]) <= len(p["rejected"])]
    results = []
    for n in ALPACA_SIZES:
        if n // 2 > min(len(longer), len(shorter)):
            results.append({"alpaca_pairs": n, "skipped": f"the cache holds {len(longer)} + {len(shorter)} AlpacaEval pairs"})
            continue
        subset = longer[: n // 2] + shorter[: n // 2]
        similarity = prompt_similarity(subset, store, max_length) if recipe.by == "embedding" else None
        rows = subset + others + off_topic_pairs(subset, recipe.per_prompt, seed, recipe.neighbours, similarity, recipe.chosen_from)
        rows = [p for p in rows if p["prompt"] not in held_prompts]
        _, accuracy, _ = fit_and_score(store, rows, scored, seed)
        results.append({"alpaca_pairs": n, "train_pairs": len(rows), "held_out": accuracy})
        print(json.dumps(results[-1]), flush=True)
    counts = {s: sum(p["source"] == s for p in scored) for s in RULE_SOURCES}
    best = max((r for r in results if "held_out" in r), key=lambda r: r["held_out"]["mean"])
    record = {"variant": MIX_VARIANT, "off_topic": recipe._asdict(), "held_out_pairs": counts, "sizes": results, "chosen": best["alpaca_pairs"],
              "chosen_by": "perf/train_default_rm.py stage sizes: best mean held-out accuracy over " + ", ".join(RULE_SOURCES)}
    (cache / "sizes.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


PMI_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def pmi_weight(cache: Path, max_length: int, seed: int, tokens: int, per_source: int, hard: bool = False) -> dict[str, Any]:
    """The weight of PMI (``tokens`` response tokens) beside the head of ``select.json``'s
    variant, fitted on the training split: both scored on up to ``per_source`` held-out pairs
    per source, the weight from :data:`PMI_WEIGHTS` with the best mean held-out accuracy (ties:
    the smaller). Without ``hard``, over every source, the pairs' own off-topic ones included
    (the first PMI run's rule); with ``hard``, the mix stage's rule: over :data:`RULE_SOURCES`,
    the hard off-topic pairs scored in place of the easy ones. Writes ``pmi_weight.json``."""
    import numpy as np
    import torch

    from assay.rewards.models.pmi import PromptResponsePMI
    from assay.train.heads import fit_head_on_features
    from assay.types import Sample

    chosen_variant = json.loads((cache / "select.json").read_text())["chosen"]
    variant = {k: chosen_variant[k] for k in ("features", "hidden", "epochs", "batch_size", "lr", "weight_decay")}
    pairs, store, _ = encoded_pairs(cache, max_length)
    if hard:
        alpaca = [p for p in pairs if p["source"] == "alpacaeval"]
        train, scored = held_out_with_hard(pairs, hard_off_topic(alpaca, prompt_similarity(alpaca, store, max_length), seed), seed)
        scored = [p for p in scored if p["source"] in RULE_SOURCES]
    else:
        train, held = split_by_prompt(pairs, 0.1, seed)
        scored = [pairs[i] for i in held]
    chosen, rejected = feature_rows(store, pairs, variant["features"])
    head = fit_head_on_features(chosen[train], rejected[train], seed=seed, **variant)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in scored:
        by_source[p["source"]].append(p)
    rng = random.Random(f"{seed}:pmi")
    picked = [p for source in sorted(by_source) for p in rng.sample(by_source[source], min(per_source, len(by_source[source])))]
    picked_chosen, picked_rejected = feature_rows(store, picked, variant["features"])
    with torch.inference_mode():
        head_chosen, head_rejected = head(picked_chosen).tolist(), head(picked_rejected).tolist()
    reward = PromptResponsePMI(max_response_tokens=tokens)
    started = time.perf_counter()
    judged = reward.score([Sample(prompt=p["prompt"], response=p[side]) for p in picked for side in ("chosen", "rejected")])
    seconds = time.perf_counter() - started
    failed = [j for j in judged if not j.ok]
    if failed:
        raise RuntimeError(f"PMI failed on {len(failed)} held-out responses, e.g. {failed[0].rationale}")
    heads = np.array([head_chosen, head_rejected]).T
    pmis = np.array([j.score for j in judged]).reshape(-1, 2)
    grid, best = weight_grid([p["source"] for p in picked], heads, pmis, PMI_WEIGHTS, "pmi_weight", RULE_SOURCES if hard else None)
    over = ", ".join(RULE_SOURCES) if hard else "the four training sources"
    settings = {"pmi_weight": best["pmi_weight"], "max_response_tokens": tokens, "variant": variant, "rule": "hard" if hard else "off-topic",
                "chosen_by": f"perf/train_default_rm.py stage pmi: best mean held-out accuracy over {over}",
                "held_out_pairs": {source: min(per_source, len(v)) for source, v in sorted(by_source.items())},
                "pmi_seconds": round(seconds, 1), "grid": grid}
    (cache / "pmi_weight.json").write_text(json.dumps(settings, indent=2) + "\n")
    return settings


CE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def cross_encoder(cache: Path, output: Path, max_length: int, seed: int, train_pairs: int, sources: tuple[str, ...] | None = None,
                  per_source: int = 150) -> dict[str, Any]:
    """A MiniLM cross-encoder (``assay train rm``: LoRA, 256 tokens, the prompt kept) on
    ``train_pairs`` pairs drawn from the training split (of ``sources`` only, when given),
    and the weight it gets beside the cache's head: both scored on the held-out split (at
    most ``per_source`` pairs per source, with the mix stage's hard off-topic pairs), each
    z-scored by its spread there, and the weight from :data:`CE_WEIGHTS` with the best mean
    over :data:`RULE_SOURCES` (ties: the smaller). The head is fitted on the training split for this choice. Writes ``ce.json``."""
    import numpy as np
    import torch

    from assay.backends.local_models import default_encoder_path
    from assay.rewards.models.classifier import SequenceClassifierReward
    from assay.train.heads import fit_head_on_features
    from assay.train.pairs import read_pairs
    from assay.train.rm import train_rm

    pairs, store, _ = encoded_pairs(cache, max_length)
    alpaca = [p for p in pairs if p["source"] == "alpacaeval"]
    train, scored = held_out_with_hard(pairs, hard_off_topic(alpaca, prompt_similarity(alpaca, store, max_length), seed), seed)
    drawn = [pairs[i] for i in train]
    random.Random(seed).shuffle(drawn)
    drawn = [p for p in drawn if sources is None or p["source"] in sources]
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in scored:
        by_source[p["source"]].append(p)
    evaluated = [p for source, rows in sorted(by_source.items()) for p in rows[:per_source]]
    folder = cache / "cross_encoder"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", drawn[:train_pairs]), ("eval", evaluated)):
        with open(folder / f"{name}.jsonl", "w") as f:
            for p in rows:
                f.write(json.dumps({k: p[k] for k in ("prompt", "chosen", "rejected", "source")}) + "\n")
    options = {"max_length": 256, "chat_template": "never", "truncation_side": "right"}
    report = train_rm(folder / "train.jsonl", str(default_encoder_path()), output, eval_fraction=0.0, epochs=1.0, lr=2e-4, batch_size=16,
                      lora=True, lora_r=16, lora_alpha=32, seed=seed, save_steps=10**6, logging_steps=10, device="cpu", progress=False, **options)
    judged = SequenceClassifierReward(model=str(output), batch_size=16, device="cpu", **options).score(
        [s for p in read_pairs(folder / "eval.jsonl") for s in p.samples()])
    if not all(j.ok for j in judged):
        raise RuntimeError(f"the cross-encoder failed on held-out responses, e.g. {next(j for j in judged if not j.ok).rationale}")
    ce = np.array([j.score for j in judged]).reshape(-1, 2)
    chosen, rejected = feature_rows(store, pairs, MIX_VARIANT["features"])
    head = fit_head_on_features(chosen[train], rejected[train], seed=seed, **MIX_VARIANT)
    eval_chosen, eval_rejected = feature_rows(store, evaluated, MIX_VARIANT["features"])
    with torch.inference_mode():
        hs = np.stack([head(eval_chosen).numpy().ravel(), head(eval_rejected).numpy().ravel()], 1)
    head_std, ce_std = float(hs.std()), float(ce.std())
    grid, best = weight_grid([p["source"] for p in evaluated], hs / head_std, ce / ce_std, CE_WEIGHTS, "ce_weight", RULE_SOURCES)
    record = {"train_pairs": train_pairs, "sources": list(sources) if sources else "all",
              "held_out_pairs": {s: len(v[:per_source]) for s, v in sorted(by_source.items())},
              "train_seconds": report["seconds"], "train_loss": report["train_loss"], "truncated": report["truncated"],
              "head_std": head_std, "ce_std": ce_std, "grid": grid, "chosen": best["ce_weight"],
              "config_weights": {"head": round(1 / head_std, 4), "cross_encoder": round(best["ce_weight"] / ce_std, 4)}}
    (cache / "ce.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


COSINE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0)


def cosine_weight(cache: Path, max_length: int, seed: int) -> dict[str, Any]:
    """The weight of the prompt-response cosine beside the head (:data:`MIX_VARIANT`, fitted on
    the training split): both scored on every held-out pair with the mix stage's hard
    off-topic pairs, each z-scored by its spread there, the weight from :data:`COSINE_WEIGHTS`
    with the best mean over :data:`RULE_SOURCES` (ties: the smaller). Seconds: the cosine
    comes from the cached embeddings. ``raw_weight`` is the weight in the head's own units
    (what :meth:`EmbeddingHead.with_cosine` takes). Writes ``cosine.json``."""
    import numpy as np
    import torch

    from assay.train.heads import fit_head_on_features

    pairs, store, _ = encoded_pairs(cache, max_length)
    alpaca = [p for p in pairs if p["source"] == "alpacaeval"]
    train, scored = held_out_with_hard(pairs, hard_off_topic(alpaca, prompt_similarity(alpaca, store, max_length), seed), seed)
    chosen, rejected = feature_rows(store, pairs, MIX_VARIANT["features"])
    head = fit_head_on_features(chosen[train], rejected[train], seed=seed, **MIX_VARIANT)
    eval_chosen, eval_rejected = feature_rows(store, scored, MIX_VARIANT["features"])
    cosine_head = head.with_cosine(1.0)
    with torch.inference_mode():
        (hc, cc), (hr, cr) = cosine_head.parts(eval_chosen), cosine_head.parts(eval_rejected)
    hs = np.stack([hc.numpy(), hr.numpy()], 1)
    cs = np.stack([cc.numpy(), cr.numpy()], 1)
    head_std, cosine_std = float(hs.std()), float(cs.std())
    grid, best = weight_grid([p["source"] for p in scored], hs / head_std, cs / cosine_std, COSINE_WEIGHTS, "cosine_weight", RULE_SOURCES)
    sources = np.array([p["source"] for p in scored])
    counts = {s: int((sources == s).sum()) for s in sorted(set(sources))}
    median_cosine = {s: {"chosen": round(float(np.median(cs[sources == s, 0])), 3), "rejected": round(float(np.median(cs[sources == s, 1])), 3)}
                     for s in counts}
    record = {"variant": MIX_VARIANT, "held_out_pairs": counts, "median_cosine": median_cosine, "head_std": head_std, "cosine_std": cosine_std, "grid": grid,
              "chosen": best["cosine_weight"], "raw_weight": round(best["cosine_weight"] * head_std / cosine_std, 4),
              "chosen_by": "perf/train_default_rm.py stage cosine: best mean held-out accuracy over " + ", ".join(RULE_SOURCES)}
    (cache / "cosine.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("ASSAY_DATA_DIR"), help="the data folder (default: $ASSAY_DATA_DIR)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("ASSAY_CACHE_DIR", "~/.cache/assay")).expanduser() / "default_rm",
                        help="pairs, embeddings and the selection record (reused by later runs)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--stages", default="prepare,encode,select,final", help="any of prepare,encode,mix,degenerate,lengths,sizes,select,cosine,final,pmi,cross_encoder")
    parser.add_argument("--alpaca-pairs", type=int, default=5000)
    parser.add_argument("--gsm8k-pairs", type=int, default=500)
    parser.add_argument("--off-topic", type=int, default=OffTopic().per_prompt, help="off-topic pairs per AlpacaEval prompt (0: none)")
    parser.add_argument("--off-topic-by", choices=("embedding", "words"), default=OffTopic().by, help="how the similar prompts are found")
    parser.add_argument("--off-topic-neighbours", type=int, default=OffTopic().neighbours, help="how many similar prompts to draw from")
    parser.add_argument("--off-topic-chosen", choices=("any", "preferred"), default=OffTopic().chosen_from,
                        help="the asked prompt's side: any of its responses, or its preferred ones")
    parser.add_argument("--degenerate", type=int, default=2, help="degenerate pairs per prompt (a real answer against an echo, a word salad, ...; 0: none, the first recipe)")
    parser.add_argument("--final-hidden", help="stage final: fit the interaction head with these hidden sizes (e.g. 128) instead of "
                                               "select's choice; for diagnostics, never the shipped file")
    parser.add_argument("--max-length", type=int, default=128, help="encoder tokens per text (training and, through the head file, scoring)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pmi-tokens", type=int, default=32, help="response tokens the PMI term scores (stage pmi)")
    parser.add_argument("--pmi-pairs", type=int, default=200, help="held-out pairs per source the PMI weight is chosen on (stage pmi)")
    parser.add_argument("--pmi-rule", choices=("off-topic", "hard"), default="off-topic",
                        help="stage pmi: choose over the sources with their own off-topic pairs (the first run), or the mix stage's rule with the hard ones")
    parser.add_argument("--ce-pairs", type=int, default=3000, help="training pairs of the cross-encoder (stage cross_encoder)")
    parser.add_argument("--ce-sources", help="comma-separated sources the cross-encoder trains on (default: all)")
    parser.add_argument("--ce-output", type=Path, default=ROOT / "runs" / "default_rm_ce" / "cross_encoder", help="its folder (stage cross_encoder)")
    args = parser.parse_args(argv)
    stages = args.stages.split(",")
    off_topic = OffTopic(args.off_topic, args.off_topic_by, args.off_topic_neighbours, args.off_topic_chosen)
    if "prepare" in stages:
        if not args.data_dir or not Path(args.data_dir).is_dir():
            parser.error("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
        print(json.dumps(prepare(Path(args.data_dir), args.cache, args.alpaca_pairs, args.gsm8k_pairs, args.seed, off_topic, args.max_length, args.degenerate), indent=1), flush=True)
    if "encode" in stages:
        print(json.dumps(encode(args.cache, args.max_length, args.seed)), flush=True)
    if "mix" in stages:
        print(json.dumps(mix(args.cache, args.max_length, args.seed, off_topic)["chosen"]), flush=True)
    if "degenerate" in stages:
        print(json.dumps(degenerate_counts(args.cache, args.max_length, args.seed)["chosen"]), flush=True)
    if "lengths" in stages:
        print(json.dumps(encoder_lengths(args.cache, args.seed)["chosen"]), flush=True)
    if "sizes" in stages:
        print(json.dumps(alpaca_sizes(args.cache, args.max_length, args.seed, off_topic)["chosen"]), flush=True)
    if "select" in stages:
        print(json.dumps(select(args.cache, args.max_length, args.seed)["chosen"]), flush=True)
    if "cosine" in stages:
        print(json.dumps({k: v for k, v in cosine_weight(args.cache, args.max_length, args.seed).items() if k != "grid"}), flush=True)
    if "final" in stages:
        variant = None
        if args.final_hidden is not None:  # a diagnostic: the final fit with another hidden shape than select chose
            variant = {**MIX_VARIANT, "hidden": [int(h) for h in args.final_hidden.split(",") if h]}
        print(json.dumps(final(args.cache, args.output, args.max_length, args.seed, variant=variant, cosine="cosine" in stages)), flush=True)
    if "pmi" in stages:
        settings = pmi_weight(args.cache, args.max_length, args.seed, args.pmi_tokens, args.pmi_pairs, args.pmi_rule == "hard")
        print(json.dumps({k: settings[k] for k in ("pmi_weight", "max_response_tokens")}), flush=True)
    if "cross_encoder" in stages:
        print(json.dumps(cross_encoder(args.cache, args.ce_output, args.max_length, args.seed, args.ce_pairs,
                                       tuple(args.ce_sources.split(",")) if args.ce_sources else None)["config_weights"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
