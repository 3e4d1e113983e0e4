"""The ``math`` reward: answer equivalence with math-verify behind a fast numeric path, run in a killable worker pool."""
