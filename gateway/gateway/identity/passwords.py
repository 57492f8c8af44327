"""Password hashing with scrypt, a memory-hard scheme in the standard library.

A hash records its own parameters (`scrypt$n$r$p$salt$hash`), so they can be raised later and
old hashes still verify.
"""

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**15, 8, 1  # 32 MiB and about 0.1 s per hash: OWASP's floor for scrypt is N=2^15
_MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(expected))


# Verified against when the email is unknown, so a wrong email costs the same time as a wrong password.
DECOY_HASH = hash_password(secrets.token_urlsafe(16))
