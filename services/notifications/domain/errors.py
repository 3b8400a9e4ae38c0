"""Notifications' domain errors: one root, each a refusal the edge can answer."""


class NotificationsError(Exception):
    """Root of the notifications service's errors."""


class InvalidFeedbackToken(NotificationsError):
    """The token is forged, for another purpose, or expired."""


class FeedbackAlreadyGiven(NotificationsError):
    """The token was used already: a citizen rates a decision once."""
