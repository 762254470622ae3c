"""SOAP versions and what each one implies on the wire."""
from __future__ import annotations

from enum import StrEnum

from . import namespaces as ns


class SoapVersion(StrEnum):
    V11 = "1.1"
    V12 = "1.2"

    @property
    def namespace(self) -> str:
        return ns.SOAP11 if self is SoapVersion.V11 else ns.SOAP12

    @property
    def media_type(self) -> str:
        """Media type of a plain envelope, also the ``type`` of an MTOM root part (start-info)."""
        return "text/xml" if self is SoapVersion.V11 else "application/soap+xml"

    @classmethod
    def from_namespace(cls, namespace: str | None) -> SoapVersion | None:
        return {ns.SOAP11: cls.V11, ns.SOAP12: cls.V12}.get(namespace or "")

    @classmethod
    def from_media_type(cls, media_type: str | None) -> SoapVersion | None:
        return {"text/xml": cls.V11, "application/soap+xml": cls.V12}.get((media_type or "").lower())
