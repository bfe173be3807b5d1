"""Helpers shared by the end-to-end tests and the benchmark: processes and a tiny upstream."""
