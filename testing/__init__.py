"""What the tests and the benchmarks share: the process harness, fake providers on loopback,
test settings and the scans for her number. Never imported by the gateway itself."""
