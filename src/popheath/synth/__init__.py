"""Synthetic integrated care system: raw extracts for six sources plus a ``truth/`` folder.

Entry point: :func:`popheath.synth.generate.write` (``popheath synth --people N --seed S --out DIR``).
"""
