"""Benchmarks (``make bench``): long runs whose numbers go to bench/results.json and the README.

Timings and sizes are measured here, never asserted in tests.
"""
