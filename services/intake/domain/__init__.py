"""Intake's domain: the Application aggregate. Pure Python, no I/O."""
