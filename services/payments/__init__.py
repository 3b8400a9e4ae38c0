"""DOST payments.

Entitlements, monthly payment runs, bank settlement and termination.
"""

DESCRIPTION = "Entitlements, monthly payment runs, bank settlement and termination."
