"""The service desk: tickets and complaints (SLAs, escalation and satisfaction grow here)."""
