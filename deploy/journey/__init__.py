"""The whole journey, driven from the outside: `dost demo --citizens N` (and `make run`).

A population of citizens applies through the public interfaces (clerks over HTTP, the
e-gov portal over the command topic), caseworkers and a supervisor decide, the registry
reports a death, a supervisor runs the month's payments, the bank answers (by event and by
a camt.054 file), citizens rate the service through the links they received; then the
summary, and the invariants checked from the stores and the delivered messages."""
