"""How judges and models are reached: OpenAI-compatible HTTP, local transformers, a request cache."""
