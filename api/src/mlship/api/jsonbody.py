"""A request body as JSON: UTF-8 text, every key once, every string Unicode.

orjson parses the common body; the standard library's parser, slower but exact,
takes what orjson refuses (NaN and Infinity, which validation then names) and
what might repeat a key (orjson silently keeps the last one).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from mlship.api.validation import InputError, Loc

CONTAINERS = frozenset({dict, list})
SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate escape: no Unicode text
UNICODE = "holds an invalid Unicode escape (a lone surrogate)"


class _Repeated(dict[str, Any]):
    """An object that named ``key`` more than once (built by ``json``'s hook)."""

    key = ""


TEXTUAL = frozenset({dict, _Repeated, list, str})  # what may be or hold a string


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    repeated, seen = _Repeated(found), set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _members(payload: Any, limit: int) -> int:
    """Members of the objects in ``payload``, counted level by level until ``limit``.

    Plain loops: generator expressions would cost more than the check is worth.
    """
    count, level = 0, [payload]
    while level:
        for value in level:
            if type(value) is dict:
                count += len(value)
        if count >= limit:
            break
        deeper = []
        for value in level:
            for child in value.values() if type(value) is dict else value:
                if type(child) in CONTAINERS:
                    deeper.append(child)
        level = deeper
    return count


def _strict(body: bytes) -> Any:
    """The exact parse: UTF-8 only, NaN and Infinity kept, repeated keys and surrogates named."""
    try:
        payload = json.loads(body.decode(), parse_constant=float, object_pairs_hook=_pairs)
    except UnicodeDecodeError as error:
        message = f"body is not valid UTF-8 (byte {error.start})"
        raise InputError(("body",), message, "json_invalid") from None
    except (ValueError, RecursionError):
        raise InputError(("body",), "body is not valid JSON", "json_invalid") from None
    stack: list[tuple[Loc, Any]] = [(("body",), payload)]
    while stack:  # iterative: as deep as the parser went
        loc, value = stack.pop()
        if type(value) is list:
            members: Any = enumerate(value)
        elif isinstance(value, dict):
            if any(SURROGATE.search(key) for key in value):  # before a key goes in a loc
                raise InputError(loc, f"a key {UNICODE}", "unicode")
            if type(value) is _Repeated:
                message = "this key appears more than once in its object"
                raise InputError((*loc, value.key), message, "duplicate_key")
            members = value.items()
        else:  # a string, or the body's own number, boolean or null
            if type(value) is str and SURROGATE.search(value):
                raise InputError(loc, UNICODE, "unicode")
            continue
        stack.extend(((*loc, k), v) for k, v in reversed(list(members)) if type(v) in TEXTUAL)
    return payload


def decode(body: bytes) -> Any:
    """Parse a JSON body; NaN and Infinity pass here so validation can name them.

    Refused: text that is not UTF-8, escapes that make no Unicode text (lone
    surrogates: no answer could quote them) and repeated keys. Each object member
    has one colon outside strings, so when the parsed objects hold as many members
    as the body has colons no key was repeated: a common body pays a
    ``bytes.count`` and a short walk. Colons inside strings leave the count
    short, and the exact parser decides.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _strict(body)
    colons = body.count(b":")
    if colons < 2 or (type(payload) is dict and len(payload) >= colons):  # no nested objects
        return payload
    return payload if _members(payload, colons) >= colons else _strict(body)
