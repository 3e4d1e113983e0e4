"""Plain reward functions for the server and adapter tests (loaded with ``type: function``):
``risky`` scores exact equality, and on purpose raises for the response ``raise`` and sleeps
for ``hang:SECONDS``, so tests can exercise failures and timeouts with a real reward."""

from __future__ import annotations

import time


def risky(response: str, reference: object = None) -> tuple[float, str]:
    if response == "raise":
        raise RuntimeError("injected failure")
    if response.startswith("hang:"):
        time.sleep(float(response.split(":", 1)[1]))
    score = 1.0 if str(response).strip() == str(reference).strip() else 0.0
    return score, f"response {response!r} {'equals' if score else 'differs from'} reference {reference!r}"


def length(response: str) -> tuple[float, str]:
    return float(len(response)), f"{len(response)} characters"
