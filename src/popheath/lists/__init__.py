"""Segments, risk tiers and per-PCN risk lists: rules as data, list building and write-audit-publish releases.

Pure logic lives here; ``popheath.stages.segment`` and ``popheath.stages.publish`` read and write,
and ``popheath.serve`` shows the current release to coordinators.
"""
