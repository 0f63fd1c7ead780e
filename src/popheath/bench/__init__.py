"""Benchmarks: ``python -m popheath.bench`` (``make bench``) times the pipeline and measures the world's realism.

:mod:`popheath.bench.pipeline_timings` times the pipeline at several sizes; :mod:`popheath.bench.realism`
sets the synthetic ICS's volumes, AUROCs and capitation R-squared beside published figures (the
"Realism" section of ``benchmarks/results.md``); :mod:`popheath.bench.capitation_timings` times the
costing and capitation stages alone on a generated warehouse.
"""
