"""Prometheus metrics for the reward server, in the text exposition format, without a
dependency: counters, gauges and histograms with labels, rendered by ``render()``.

Updated from the server's event loop only (one thread), so no locks are needed.

    >>> m = Metrics()
    >>> m.count("assay_requests_total", endpoint="/v1/score", status="200")
    >>> "assay_requests_total" in m.render()
    True
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

HELP = {
    "assay_requests_total": ("counter", "HTTP requests answered, by endpoint and status code"),
    "assay_samples_total": ("counter", "samples (or pairs) scored, by endpoint"),
    "assay_failures_total": ("counter", "judgments returned without a score, by endpoint and failure kind"),
    "assay_rejected_total": ("counter", "requests refused before scoring, by reason (auth, too_large, malformed, queue_full, shutting_down)"),
    "assay_timeouts_total": ("counter", "requests answered with timeout failures because scoring outlasted the request timeout"),
    "assay_request_latency_seconds": ("histogram", "time from request received to response ready, by endpoint"),
    "assay_batch_size": ("histogram", "samples per reward call made by the micro-batcher, by batcher"),
    "assay_batch_seconds": ("histogram", "time one micro-batch took to score, by batcher"),
    "assay_queue_outstanding": ("gauge", "samples accepted and not yet scored, by batcher"),
    "assay_queue_capacity": ("gauge", "the most samples a batcher accepts before answering 429"),
    "assay_reward_threads": ("gauge", "threads of the reward pool, by state (busy, free, abandoned: held by a call whose caller gave up)"),
    "assay_reward_calls_queued": ("gauge", "synchronous reward calls waiting for a thread of the reward pool"),
    "assay_reward_calls_abandoned_total": ("counter", "reward calls still running when their caller gave up (timeouts); each held a thread"),
    "assay_reward_oldest_call_seconds": ("gauge", "how long the oldest running reward call has run"),
    "assay_wedged": ("gauge", "1 when the server cannot score: every reward thread is held by an abandoned call"),
}


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    parts = []
    for key, value in sorted(labels.items()):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{text}"')
    return "{" + ",".join(parts) + "}"


def _fmt(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


class Metrics:
    """All the server's metrics: ``count``, ``set``, ``observe``; ``render`` for ``/metrics``."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[str, float]] = defaultdict(dict)
        self.histograms: dict[str, dict[str, Histogram]] = defaultdict(dict)

    def count(self, name: str, amount: float = 1.0, **labels: Any) -> None:
        self.counters[name][_labels(labels)] += amount

    def set(self, name: str, value: float, **labels: Any) -> None:
        self.gauges[name][_labels(labels)] = value

    def observe(self, name: str, value: float, **labels: Any) -> None:
        key = _labels(labels)
        series = self.histograms[name]
        if key not in series:
            series[key] = Histogram(SIZE_BUCKETS if name == "assay_batch_size" else LATENCY_BUCKETS)
        series[key].observe(value)

    def value(self, name: str, **labels: Any) -> float:
        """A counter's or gauge's current value (0 when never set); for tests and the load test."""
        key = _labels(labels)
        if name in self.counters:
            return self.counters[name].get(key, 0.0)
        return self.gauges.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        lines: list[str] = []
        names = sorted(set(self.counters) | set(self.gauges) | set(self.histograms))
        for name in names:
            kind, text = HELP.get(name, ("untyped", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for key, value in sorted(self.counters.get(name, {}).items()):
                lines.append(f"{name}{key} {_fmt(value)}")
            for key, value in sorted(self.gauges.get(name, {}).items()):
                lines.append(f"{name}{key} {_fmt(value)}")
            for key, hist in sorted(self.histograms.get(name, {}).items()):
                inner = key[1:-1]
                for bound, count in zip(hist.buckets, hist.counts, strict=True):
                    le = f'le="{_fmt(bound)}"'
                    lines.append(f"{name}_bucket{{{inner + ',' if inner else ''}{le}}} {count}")
                lines.append(f"{name}_bucket{{{inner + ',' if inner else ''}le=\"+Inf\"}} {hist.total}")
                lines.append(f"{name}_sum{key} {_fmt(hist.sum)}")
                lines.append(f"{name}_count{key} {hist.total}")
        return "\n".join(lines) + "\n"
