"""`assay bench`: loaders, exact scorers, runner, probes and reports for reward-model benchmarks."""
