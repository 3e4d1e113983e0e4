"""Rule rewards: verifiable checks on the response text itself (matching, answer extraction,
format, length, repetition, n-gram overlap, JSON, tool calls). No models, no network; each is
pure Python.
"""
