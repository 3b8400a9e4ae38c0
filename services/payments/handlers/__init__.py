"""Payments' handlers: single entitlements (grant, bank feedback, bank details, death) and
the monthly payment run."""
