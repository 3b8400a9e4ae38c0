"""DOST eligibility.

Effective-dated, explainable eligibility decisions and the manual review queue.
"""

DESCRIPTION = "Effective-dated, explainable eligibility decisions and the manual review queue."
