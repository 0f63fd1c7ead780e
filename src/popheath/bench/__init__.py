"""Benchmarks: ``python -m popheath.bench`` (``make bench``) times the pipeline at several sizes.

:mod:`popheath.bench.pipeline_timings` is that benchmark; :mod:`popheath.bench.capitation_timings`
times the costing and capitation stages alone on a generated warehouse.
"""
