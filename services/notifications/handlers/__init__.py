"""Notifications' handlers: what the case's events mean for the citizen (citizens), sending
the messages (dispatch) and the ratings citizens give (feedback)."""
