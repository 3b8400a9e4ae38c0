"""Eligibility's domain: policies, rules, and the eligibility case. Pure Python, no I/O."""
