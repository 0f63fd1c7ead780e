"""Segments, risk tiers and per-PCN risk lists: rules as data, list building and write-audit-publish releases.

The publishing machinery is ``lists/publishing.py``; ``popheath.stages.segment`` and
``popheath.stages.publish`` are the doors, and ``popheath.serve`` shows the current release to
coordinators.
"""
