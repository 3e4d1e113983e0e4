"""Workers for the pool tests (imported by name inside worker processes): one that sleeps for
the number of seconds it is given, one whose set-up fails."""

from __future__ import annotations

import time


def sleeper(scale: float = 1.0):
    def handle(seconds: float) -> float:
        time.sleep(seconds * scale)
        return seconds

    return handle


def broken_setup():
    raise RuntimeError("this worker cannot start")
