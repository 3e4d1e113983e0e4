"""How judges and models are reached: OpenAI-compatible HTTP, local transformers, a request cache,
and the local models themselves (loaded once per process; sentence embeddings of a batch in
``encoder``).
"""
