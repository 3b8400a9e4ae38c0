"""DOST payments: Entitlements, monthly payment runs, bank settlement and termination."""
