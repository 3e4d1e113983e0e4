"""Reward code written from a description (Text2Reward, Eureka-style): ``assay reward-gen``.

An LLM (any backend, configured as the judges are) writes a reward function in Python from a
task description and a few labelled examples; assay checks it statically (``checks.py``),
runs it in the sandbox on the examples (``assay.rewards.function_sandbox``), measures its
agreement with the labels (``agreement.py``), feeds the failures and disagreements back, and
keeps the best of up to k rounds (``loop.py``), saved with its provenance
(``provenance.py``) as a file usable as ``{type: function, path: ..., sandbox: true}``.

    assay reward-gen --task "reward answers that end with a question" \\
        --examples labelled.jsonl --config judge.yaml --rounds 3 --output reward.py

What it is not: a guarantee that the function is good (the agreement figure on a handful of
examples says how far it was checked), nor a reason to run the file outside the sandbox.
docs/rewards/reward-gen.md has the whole story.
"""
