"""Files in and out: JSONL input rows, scoring a file, and the summary table of a scored run."""
