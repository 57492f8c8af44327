"""The gateway's security settings, checked at start: outside development no default secret passes."""

import os
from dataclasses import dataclass

from crm_common.config import ConfigError, int_setting

# The development defaults `make run` uses; printed by `make run` and refused in production.
DEVELOPMENT_ADMIN_EMAIL = "admin@crm.local"
DEVELOPMENT_ADMIN_PASSWORD = "crm-development-only"
DEVELOPMENT_SIGNING_KEY = "development-signing-key-never-deploy-this-0123456789"
MIN_SIGNING_KEY_LENGTH = 32
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class SecuritySettings:
    development: bool
    signing_key: bytes
    admin_email: str | None
    admin_password: str | None
    access_ttl_seconds: int = 900
    refresh_ttl_seconds: int = 30 * 24 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    issuer: str = "crm-gateway"
    audience: str = "crm-api"


def load_security_settings() -> SecuritySettings:
    """Read the settings; raise ConfigError (the gateway refuses to start) on anything unsafe."""
    mode = os.environ.get("CRM_ENV", "production")
    if mode not in ("development", "production"):
        raise ConfigError(f"CRM_ENV must be development or production, got {mode!r}")
    development = mode == "development"
    key = os.environ.get("GATEWAY_SIGNING_KEY") or (DEVELOPMENT_SIGNING_KEY if development else "")
    email = os.environ.get("CRM_ADMIN_EMAIL") or (DEVELOPMENT_ADMIN_EMAIL if development else None)
    password = os.environ.get("CRM_ADMIN_PASSWORD") or (DEVELOPMENT_ADMIN_PASSWORD if development else None)
    if not development:
        if not key:
            raise ConfigError("GATEWAY_SIGNING_KEY is required outside development (CRM_ENV=development)")
        if key == DEVELOPMENT_SIGNING_KEY:
            raise ConfigError("GATEWAY_SIGNING_KEY is the development default; set a secret of your own")
        if email == DEVELOPMENT_ADMIN_EMAIL or password == DEVELOPMENT_ADMIN_PASSWORD:
            raise ConfigError("CRM_ADMIN_EMAIL / CRM_ADMIN_PASSWORD are the development defaults; set your own")
    if len(key) < MIN_SIGNING_KEY_LENGTH:
        raise ConfigError(f"GATEWAY_SIGNING_KEY must be at least {MIN_SIGNING_KEY_LENGTH} characters")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"CRM_ADMIN_PASSWORD must be at least {MIN_PASSWORD_LENGTH} characters")
    if (email is None) != (password is None):
        raise ConfigError("set CRM_ADMIN_EMAIL and CRM_ADMIN_PASSWORD together")
    return SecuritySettings(
        development=development,
        signing_key=key.encode(),
        admin_email=email.strip().lower() if email else None,
        admin_password=password,
        access_ttl_seconds=int_setting("ACCESS_TOKEN_TTL_SECONDS", 900),
        refresh_ttl_seconds=int_setting("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
        login_max_failures=int_setting("LOGIN_MAX_FAILURES", 5),
        login_lockout_seconds=int_setting("LOGIN_LOCKOUT_SECONDS", 900),
    )
