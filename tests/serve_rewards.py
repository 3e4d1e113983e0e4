"""Plain reward functions for the server and adapter tests (loaded with ``type: function``):
``risky`` scores exact equality, and on purpose raises for the response ``raise``, sleeps
for ``hang:SECONDS``, spins the CPU in Python for ``spin:SECONDS``, and blocks until a file
exists for ``block:PATH`` (at most 60 s), so tests can exercise failures, timeouts and stuck
threads with a real reward."""

from __future__ import annotations

import os
import time


def risky(response: str, reference: object = None) -> tuple[float, str]:
    if response == "raise":
        raise RuntimeError("injected failure")
    if response.startswith("hang:"):
        time.sleep(float(response.split(":", 1)[1]))
    if response.startswith("spin:"):
        until = time.monotonic() + float(response.split(":", 1)[1])
        while time.monotonic() < until:
            sum(range(1000))
    if response.startswith("block:"):
        until = time.monotonic() + 60
        while not os.path.exists(response.split(":", 1)[1]) and time.monotonic() < until:
            time.sleep(0.02)
    score = 1.0 if str(response).strip() == str(reference).strip() else 0.0
    return score, f"response {response!r} {'equals' if score else 'differs from'} reference {reference!r}"


def length(response: str) -> tuple[float, str]:
    return float(len(response)), f"{len(response)} characters"
