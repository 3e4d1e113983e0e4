"""Training lives here: code that fits a reward's parameters, kept apart from the rewards
that only read what was trained. One module per trainer, each what an ``assay train``
subcommand runs: ``heads`` (an embedding head over the packaged sentence encoder, CPU),
``rm`` (a Bradley-Terry reward model on TRL's RewardTrainer), ``prm`` (a step-level PRM,
token classification at step separators), ``distill`` (a teacher config's labels into a head or
rm student), ``genrm`` (a generative RM by GRPO on TRL, rewarded through assay's TRL adapter:
the one module here that imports ``assay.integrations``); ``pairs`` reads the preference pairs, ``overlap``
finds training prompts that a benchmark also holds, and
``report`` writes the training report. A module here may import the rewards, the backends,
the file readers and the core types; nothing under ``assay/rewards/`` imports from here,
and ``import assay`` never loads it (nor torch, TRL or peft: they are imported inside the
training functions)."""
