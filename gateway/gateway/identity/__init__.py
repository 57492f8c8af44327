"""Identity, owned by the gateway: users, teams, roles, API keys, sessions and sign-in."""
