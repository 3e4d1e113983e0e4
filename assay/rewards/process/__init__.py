"""Process rewards: rewards over the steps of a solution (split, score each step, aggregate, locate the first error)."""
