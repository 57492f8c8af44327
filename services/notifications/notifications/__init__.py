"""The notifications service: the in-app inbox (templates, channels and campaigns grow here)."""
