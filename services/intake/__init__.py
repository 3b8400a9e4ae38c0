"""DOST intake.

Applications over HTTP and from other systems' command topic; the case tracker.
"""

DESCRIPTION = "Applications over HTTP and from other systems' command topic; the case tracker."
