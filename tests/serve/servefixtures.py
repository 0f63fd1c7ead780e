"""Shared constants for the serve tests (imported by name; conftest modules are not importable reliably)."""

from __future__ import annotations

from datetime import date

AS_OF = date(2025, 4, 1)
TOKENS = {"alice": ("PCN1", "alice-token-" + "a" * 30), "bob": ("PCN2", "bob-token-" + "b" * 30)}
REASONS = ("2 emergency admissions in the last 6 months", "frailty score 12 (moderate)", "lives alone")
