"""Tracking URIs as they may be shown: credentials never reach a report, a log or a manifest."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def public_uri(uri: str) -> str:
    """``uri`` without any ``user:password@`` part (the rest is kept as given)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    # rpartition: a password may itself contain '@'; the host is what follows the last one.
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
