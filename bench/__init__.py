"""Benchmarks: `python -m bench [--quick] [--json FILE] [SUITE...]` prints one table."""
