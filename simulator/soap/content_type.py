"""HTTP/MIME Content-Type values: parsed into a media type and parameters, and rendered back."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from collections.abc import Mapping

from .errors import ContentTypeError

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_WS = " \t"


@dataclass(frozen=True)
class ContentType:
    """``media_type`` is lower-cased; parameter names are lower-cased, values kept as sent (unquoted)."""

    media_type: str
    params: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())

    @property
    def charset(self) -> str | None:
        return self.param("charset")

    def __str__(self) -> str:
        return format_content_type(self.media_type, self.params)


def parse_content_type(value: str) -> ContentType:
    """Parse ``type/subtype; name=value; name="quoted value"``; raises ``ContentTypeError`` when malformed."""
    text = value.strip()
    pos = 0
    media = _TOKEN.match(text, pos)
    if not media or text[media.end():media.end() + 1] != "/":
        raise ContentTypeError(f"malformed Content-Type {value!r}: expected type/subtype")
    sub = _TOKEN.match(text, media.end() + 1)
    if not sub:
        raise ContentTypeError(f"malformed Content-Type {value!r}: expected type/subtype")
    media_type = text[:sub.end()].lower()
    pos = sub.end()
    params: dict[str, str] = {}
    while True:
        pos = _skip(text, pos)
        if pos >= len(text):
            break
        if text[pos] != ";":
            raise ContentTypeError(f"malformed Content-Type {value!r}: expected ';' at offset {pos}")
        pos = _skip(text, pos + 1)
        if pos >= len(text):
            break  # a trailing ';' is common and harmless
        name = _TOKEN.match(text, pos)
        if not name:
            raise ContentTypeError(f"malformed Content-Type {value!r}: expected a parameter name at offset {pos}")
        pos = _skip(text, name.end())
        if text[pos:pos + 1] != "=":
            raise ContentTypeError(f"malformed Content-Type {value!r}: parameter {name.group()!r} has no value")
        pos = _skip(text, pos + 1)
        if text[pos:pos + 1] == '"':
            param_value, pos = _quoted(text, pos, value)
        else:
            token = re.compile(r"[^;\s]*").match(text, pos)
            assert token is not None
            param_value, pos = token.group(), token.end()
        params[name.group().lower()] = param_value
    return ContentType(media_type, MappingProxyType(params))


def format_content_type(media_type: str, params: Mapping[str, str] | None = None) -> str:
    parts = [media_type]
    for name, param_value in (params or {}).items():
        if _TOKEN.fullmatch(param_value):
            parts.append(f"{name}={param_value}")
        else:
            escaped = param_value.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{name}="{escaped}"')
    return "; ".join(parts)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _quoted(text: str, pos: int, original: str) -> tuple[str, int]:
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise ContentTypeError(f"malformed Content-Type {original!r}: unterminated quoted string")
