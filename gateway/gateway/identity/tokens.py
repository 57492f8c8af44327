"""Access tokens (short-lived HS256 JWTs) and opaque refresh and API-key secrets, stored only hashed."""

import hashlib
import hmac
import secrets
import time

import jwt

from crm_common.errors import Unauthorized

from .settings import SecuritySettings

ALGORITHM = "HS256"  # the only algorithm accepted: `alg: none` and key-confusion tricks fail to decode


def issue_access_token(settings: SecuritySettings, user_id: str, session_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": user_id,
        "sid": session_id,
        "iat": now,
        "exp": now + settings.access_ttl_seconds,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM)


def verify_access_token(settings: SecuritySettings, token: str) -> dict:
    """The token's claims; Unauthorized when it is malformed, tampered, expired or not for us."""
    try:
        return jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            audience=settings.audience,
            issuer=settings.issuer,
            options={"require": ["exp", "iat", "sub", "sid", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired; refresh it or sign in again") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the access token is not valid") from None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    # The secrets are 256-bit random, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def split_credential(credential: str, prefix: str) -> tuple[str, str]:
    """`<prefix><id>.<secret>` -> (id, secret); Unauthorized when it has another shape."""
    if not credential.startswith(prefix) or "." not in credential:
        raise Unauthorized("the credential is not valid")
    record_id, _, secret = credential.removeprefix(prefix).partition(".")
    if not record_id or not secret or len(credential) > 512:
        raise Unauthorized("the credential is not valid")
    return record_id, secret
