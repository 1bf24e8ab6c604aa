"""Signed stream URLs (pure): an HMAC over what a personal manifest is made of, and when it expires.

A token covers the stream (a recipe name or a reel), the user, every var and the expiry, so a
URL cannot be re-pointed at another user or other vars; segments stay public and shared.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

RESERVED = ("user", "exp", "sig")


def _message(stream: str, user: str, values: dict[str, str], exp: int) -> bytes:
    pairs = "&".join(f"{k}={v}" for k, v in sorted(values.items()))
    return f"v1\n{stream}\n{user}\n{pairs}\n{exp}".encode()


def sign(secret: str, stream: str, user: str, values: dict[str, str], exp: int) -> str:
    return hmac.new(secret.encode(), _message(stream, user, values, exp), hashlib.sha256).hexdigest()[:32]


def verify(secret: str, stream: str, user: str, values: dict[str, str], exp: str | None, sig: str | None,
           now: float | None = None) -> str | None:  # fmt: skip
    """None when the token is good, else why not (for the 403 body)."""
    if not exp or not sig:
        return "this server needs signed stream URLs (exp and sig)"
    try:
        expiry = int(exp)
    except ValueError:
        return "exp is not a time"
    if expiry < (time.time() if now is None else now):
        return "the link has expired"
    if not hmac.compare_digest(sign(secret, stream, user, values, expiry), sig):
        return "the signature does not match"
    return None


def signed_query(secret: str | None, stream: str, user: str, values: dict[str, str], ttl: int, now: float | None = None) -> str:
    """The query string of a stream URL: ``user=..&VAR=..`` plus ``exp``/``sig`` when a secret is set."""
    query = {"user": user, **dict(sorted(values.items()))}
    if secret:
        exp = int((time.time() if now is None else now) + ttl)
        query |= {"exp": str(exp), "sig": sign(secret, stream, user, values, exp)}
    return urlencode(query)
