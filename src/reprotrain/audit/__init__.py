"""Audits of runs: why two runs' outputs differ, whether a directory matches its manifest,
and the hunt for nondeterminism."""
