"""Shared test helpers: the metric tester (batches vs. concatenation, DDP on CPU with gloo)."""
