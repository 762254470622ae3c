"""The ASGI TLS extension for uvicorn: ``scope["extensions"]["tls"]`` with the client certificate of the connection.

uvicorn terminates TLS (``serve --tls``) and checks the client certificate against the test CA, but does not put
that certificate in the ASGI scope, so the DMP and INSi handlers could not see it. ``TlsH11Protocol`` (and
``TlsHttpToolsProtocol`` when httptools is installed) are uvicorn's own HTTP protocols that, once the handshake is
done, read the peer certificate from the connection's ``ssl_object`` and hand every request of that connection a
scope carrying the extension, in the shape of the ASGI TLS extension spec:

    {"client_cert_chain": ["-----BEGIN CERTIFICATE-----…"],  # PEM, leaf first; empty without a certificate
     "client_cert_name": "CN=…",                              # RFC 4514 subject of the leaf, or None
     "client_cert_error": None, "server_cert": None,
     "tls_version": 0x0304,                                   # TLS 1.3 (0x0303: TLS 1.2), None if unknown
     "cipher_suite": None}

``SSLObject.getpeercert`` gives the leaf only (Python exposes no verified chain before 3.13), so the chain has one
certificate; the handlers only need the leaf. Pass the class to uvicorn: ``uvicorn.run(app, http=tls_protocol())``.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TlsH11Protocol", "tls_extension", "tls_protocol"]

_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension of a connection, or None when it is not a TLS connection."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name = None
    if der:
        chain.append(ssl.DER_cert_to_PEM_cert(der))
        from cryptography import x509

        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return {"server_cert": None, "client_cert_chain": chain, "client_cert_name": name, "client_cert_error": None,
            "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""), "cipher_suite": None}


def _with_tls(app: Any, tls: dict[str, Any]) -> Any:
    async def with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
        await app(scope, receive, send)
    return with_tls


class _TlsScope:
    """Mixin for uvicorn's HTTP protocols: one instance serves one connection, so the extension is read once, when
    the connection is made (after the TLS handshake), and every request's scope gets it."""

    app: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        tls = tls_extension(transport)
        if tls is not None:
            self.app = _with_tls(self.app, tls)


class TlsH11Protocol(_TlsScope, H11Protocol):
    pass


try:  # uvicorn picks httptools over h11 when it is installed ("auto"): do the same
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is not a dependency
    HttpToolsProtocol = None  # type: ignore[assignment, misc]
else:  # pragma: no cover
    class TlsHttpToolsProtocol(_TlsScope, HttpToolsProtocol):  # type: ignore[misc, valid-type]
        pass


def tls_protocol() -> type[asyncio.Protocol]:
    """The protocol class uvicorn's "auto" would choose, with the TLS extension."""
    return TlsHttpToolsProtocol if HttpToolsProtocol is not None else TlsH11Protocol  # type: ignore[return-value]
