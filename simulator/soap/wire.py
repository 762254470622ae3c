"""What the SOAP layer hands to HTTP: body bytes and the Content-Type that goes with them."""
from __future__ import annotations

from typing import NamedTuple


class EncodedMessage(NamedTuple):
    """Unpacks as ``body, content_type = …``."""

    body: bytes
    content_type: str
