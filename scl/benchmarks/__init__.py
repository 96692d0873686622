"""Benchmarks that ship with SCL (the scene benchmark: ``scl.benchmarks.scene``)."""
