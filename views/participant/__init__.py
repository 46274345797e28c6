"""A user-study participant's page."""
