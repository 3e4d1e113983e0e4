"""Adapters that hand assay rewards to RL trainers: ``trl``, ``verl``, ``openrlhf``, and
``ray_engine`` for scoring files on Ray. Each module imports its trainer's packages lazily."""
