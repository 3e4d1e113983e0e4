"""Bias probes for any reward or comparator (length, style, injection, position) and the injection text they share with the judge injection bench."""
