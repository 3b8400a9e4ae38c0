"""The payments domain: the Entitlement aggregate. Pure Python, no I/O."""
