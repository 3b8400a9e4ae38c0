"""DOST notifications.

Multilingual SMS and e-mail to citizens, never twice.
"""

DESCRIPTION = "Multilingual SMS and e-mail to citizens, never twice."
