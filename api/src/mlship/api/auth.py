"""API-key authentication: ``X-API-Key`` or ``Authorization: Bearer``, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from mlship.api.responses import ApiError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mlship"'}


class KeyChecker:
    """Checks a request's key against the configured keys; keys are never logged."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(key.encode() for key in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    @staticmethod
    def presented(request: Request) -> str | None:
        key = request.headers.get("x-api-key")
        if key:
            return key
        authorization = request.headers.get("authorization", "")
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

    def require(self, request: Request) -> None:
        """Raise 401 without a key and 403 with a wrong one."""
        key = self.presented(request)
        if key is None:
            raise ApiError(401, "an API key is required (X-API-Key or Bearer)", CHALLENGE)
        if not self.matches(key):
            raise ApiError(403, "the API key is not valid")

    def protect(self, request: Request) -> None:
        """For prediction endpoints: a key is needed only when keys are configured."""
        if self._keys:
            self.require(request)
