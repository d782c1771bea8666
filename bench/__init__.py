"""Benchmark harness for flowsleuth (run ``python bench/run.py``; see docs/benchmarks.md)."""
