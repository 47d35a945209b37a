"""Benchmarks: `python -m bench [--quick]` prints one table."""
