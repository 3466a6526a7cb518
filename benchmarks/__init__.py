"""Benchmarks of ubm_platform (`make bench`): not tests. See benchmarks/README.md."""
