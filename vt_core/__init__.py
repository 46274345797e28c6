"""Visionary Tuning: the domain, grouped by workflow over a shared core (see README, "How it is built")."""
