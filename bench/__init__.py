"""The benchmark: `bench/run` starts the stack on loopback and measures it (see README.md)."""
