"""Training lives here: code that fits a reward's parameters (today the embedding head's
``fit_head``, next reward models and process reward models), kept apart from the rewards
that only read what was trained. A module here may import the rewards, the backends and
the core types; nothing under ``assay/rewards/`` imports from here, and ``import assay``
never loads it."""
