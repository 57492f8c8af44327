"""The search service: one index of every entity, fed only by the other services' events."""
