"""The API gateway: the only public HTTP surface of the CRM platform."""
