"""Size and shape limits applied to every incoming SOAP message before any handler sees it."""
from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

# libxml2 refuses deeper documents unless XML_PARSE_HUGE is set, and huge_tree stays off on purpose, so a
# configured depth above this could never be honoured.
LIBXML2_MAX_DEPTH = 256


@dataclass(frozen=True)
class SoapLimits:
    """Caps on one request; every breach raises its own ``SoapError`` subclass.

    The defaults leave room for an ITI-41 with a few documents of several MB each (MTOM), while an inline
    base64 document stays bounded by libxml2's own 10 MB text-node cap.
    """

    max_message_bytes: int = 64 * MiB
    max_xml_bytes: int = 20 * MiB
    max_depth: int = LIBXML2_MAX_DEPTH
    max_attribute_length: int = 64 * 1024
    max_part_bytes: int = 32 * MiB
    max_parts: int = 256

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_xml_bytes", "max_depth", "max_attribute_length",
                     "max_part_bytes", "max_parts"):
            if getattr(self, name) < 1:
                raise ValueError(f"SoapLimits.{name} must be a positive integer")
        if self.max_depth > LIBXML2_MAX_DEPTH:
            raise ValueError(f"SoapLimits.max_depth cannot exceed {LIBXML2_MAX_DEPTH}: libxml2 stops there "
                             "without huge_tree, which the hardened parser never enables")


DEFAULT_LIMITS = SoapLimits()
