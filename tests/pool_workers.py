"""Workers for the pool tests (imported by name inside worker processes): one that sleeps for
the number of seconds it is given, one whose set-up fails, one that passes through two phases."""

from __future__ import annotations

import time


def sleeper(scale: float = 1.0):
    def handle(seconds: float) -> float:
        time.sleep(seconds * scale)
        return seconds

    return handle


def broken_setup():
    raise RuntimeError("this worker cannot start")


def phased():
    """A handler in two phases: payload ``(before, bound, after, die)`` sleeps ``before`` s,
    enters phase "second" with ``bound`` s (no phase when ``bound`` is None), sleeps ``after``
    s, and with ``die`` kills its own process there."""
    import os
    import signal

    from assay.sandbox.pool import enter_phase

    def handle(payload):
        before, bound, after, die = payload
        time.sleep(before)
        if bound is not None:
            enter_phase("second", bound)
        if die:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(after)
        return "done"

    return handle
