"""DOST console: the web pages staff work in, on the other services' APIs.

It holds no business state: every page calls the four services with the signed-in user's
token and renders what they answer, so roles, four-eyes and validation stay where they are."""

DESCRIPTION = "The web pages clerks, caseworkers, supervisors and auditors work in."
