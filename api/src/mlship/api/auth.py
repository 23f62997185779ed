"""API-key authentication: ``X-API-Key`` or ``Authorization: Bearer``, compared in constant time."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping

from mlship.api.responses import ApiError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mlship"'}
logger = logging.getLogger("mlship.api")
KeyLoader = Callable[[], tuple[str, ...]]


class KeyChecker:
    """Checks a request's key against the configured keys; keys are never logged.

    With a ``loader`` (the keys file), the keys are re-read at most every
    ``refresh_seconds`` when a request needs them, so keys can be added and
    retired without a restart (rotation). A file that cannot be read or holds no
    key keeps the previous keys: a bad edit never opens or closes the service.
    """

    def __init__(
        self,
        keys: tuple[str, ...],
        loader: KeyLoader | None = None,
        refresh_seconds: float = 5.0,
    ) -> None:
        self._keys = tuple(key.encode() for key in keys)
        self._loader = loader
        self._refresh_seconds = refresh_seconds
        self._next_refresh = time.monotonic() + refresh_seconds

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._loader is None or now < self._next_refresh:
            return
        self._next_refresh = now + self._refresh_seconds
        try:
            keys = self._loader()
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("API keys file not re-read, keeping the current keys: %s", error)
            return
        if not keys:
            logger.warning("API keys file holds no key, keeping the current keys")
            return
        encoded = tuple(key.encode() for key in keys)
        if encoded != self._keys:
            self._keys = encoded
            logger.info("API keys reloaded", extra={"key_count": len(encoded)})

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._loader is not None

    @staticmethod
    def presented(headers: Mapping[str, str]) -> str | None:
        key = headers.get("x-api-key")
        if key:
            return key
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None

    def matches(self, key: str) -> bool:
        candidate = key.encode()
        matched = False
        # Compare with every key (no early exit) so timing does not reveal which one matched.
        for known in self._keys:
            matched |= hmac.compare_digest(candidate, known)
        return matched

    def admits(self, headers: Mapping[str, str]) -> bool:
        """Whether ``headers`` carry a valid key: ``require`` without naming the problem."""
        self._refresh()
        key = self.presented(headers)
        return key is not None and self.matches(key)

    def require(self, headers: Mapping[str, str]) -> None:
        """Raise 401 without a key and 403 with a wrong one (lower-case header names)."""
        self._refresh()
        key = self.presented(headers)
        if key is None:
            raise ApiError(401, "an API key is required (X-API-Key or Bearer)", CHALLENGE)
        if not self.matches(key):
            raise ApiError(403, "the API key is not valid")

    def protect(self, headers: Mapping[str, str]) -> None:
        """For prediction endpoints: a key is needed only when keys are configured."""
        if self.enabled:
            self.require(headers)
