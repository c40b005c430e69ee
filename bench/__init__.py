"""Benchmarks of the gateway on this machine (`make bench`), each beside a same-run baseline."""
