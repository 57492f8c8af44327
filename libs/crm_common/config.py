"""Settings read from the environment, failing fast with a clear message when one is wrong."""

import os
import urllib.parse

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


class ConfigError(RuntimeError):
    pass


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required")
    return value


def int_setting(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None


def float_setting(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a number, got {raw!r}") from None


def data_dir() -> str:
    """Where embedded stores keep their files (`CRM_DATA_DIR`, default ./var/data)."""
    path = os.environ.get("CRM_DATA_DIR", os.path.join(os.getcwd(), "var", "data"))
    os.makedirs(path, exist_ok=True)
    return path


def store_url(service: str) -> str:
    """`<SERVICE>_STORE_URL`, else an SQLite file under the data directory. A MongoDB URL that
    names no database gets the service's name: services must never share outbox collections."""
    url = os.environ.get(f"{service.upper()}_STORE_URL")
    if not url:
        return f"sqlite:///{os.path.join(data_dir(), service + '.db')}"
    if url.startswith(("mongodb://", "mongodb+srv://")):
        parts = urllib.parse.urlsplit(url)
        if parts.path in ("", "/"):
            return urllib.parse.urlunsplit(parts._replace(path="/" + service))
    return url
