"""Benchmarks with their own harness; results are JSON in bench/results/."""
