"""The generic worker pool's phases (``assay.sandbox.pool.enter_phase``): a phase restarts the
item's deadline at its own bound (the worker's alarm too), and a timeout or a crash is reported
in the phase the item was in; ``alarm=False`` leaves the bounding to the parent's kill. The
``sql`` reward relies on these (gold phase, then prediction phase)."""

from __future__ import annotations

import time

from assay.sandbox.pool import WorkerPool, describe_exit, enter_phase

PHASED = "pool_workers:phased"


def test_a_phase_restarts_the_deadline_at_its_own_bound_alarm_included():
    pool = WorkerPool(PHASED, size=1, timeout_seconds=0.5)
    try:
        outcomes = pool.run([(0, (0.0, 3.0, 1.0, False)), (1, (0.0, None, 0.0, False)), (2, (0.0, None, 2.0, False))])
    finally:
        pool.close()
    assert (outcomes[0].kind, outcomes[0].value, outcomes[0].phase) == ("ok", "done", "second")  # past 0.5 s, within the phase's 3 s
    assert (outcomes[1].kind, outcomes[1].phase) == ("ok", "")  # the next item starts with no phase and the pool's bound
    assert (outcomes[2].kind, outcomes[2].phase) == ("timeout", "")


def test_without_the_alarm_the_parent_kills_at_the_phase_bound_plus_grace():
    pool = WorkerPool(PHASED, size=1, timeout_seconds=5.0, alarm=False, grace_seconds=0.2)
    try:
        started = time.monotonic()
        outcomes = pool.run([(0, (0.0, 0.5, 30.0, False)), (1, (0.0, None, 0.0, False))])
        assert time.monotonic() - started < 5.0  # the phase's 0.5 s, not the pool's 5 s
    finally:
        pool.close()
    assert (outcomes[0].kind, outcomes[0].phase) == ("timeout", "second")
    assert outcomes[1].kind == "ok"  # sent again to the replacement worker


def test_a_crash_is_reported_in_its_phase_with_the_exit_status():
    pool = WorkerPool(PHASED, size=1, timeout_seconds=5.0)
    try:
        outcomes = pool.run([(0, (0.0, 1.0, 0.0, True)), (1, (0.0, None, 0.0, False))])
    finally:
        pool.close()
    assert (outcomes[0].kind, outcomes[0].phase, outcomes[0].exit_code) == ("crash", "second", -9)
    assert describe_exit(outcomes[0].exit_code) == "killed by signal 9" and describe_exit(1) == "exit code 1"
    assert outcomes[1].kind == "ok"


def test_enter_phase_outside_a_worker_does_nothing():
    enter_phase("anything", 1.0)
