"""Capitation: activity costing, person-year resource use, baselines, prospective model and report."""
