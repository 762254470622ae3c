"""The HTTP application: the DMP's SOAP endpoints on their real paths (also under ``/w/{workspace}``), the admin
JSON API under ``/api`` (OpenAPI at ``/openapi.json``), the test PKI's CRLs, ``/health`` and the web console
under ``/ui``.

SOAP calls are synchronous (SQLAlchemy, lxml, signatures): they run on the worker's event loop, or in threads with
``soap_threads`` (call_runner.py). The admin API's synchronous routes run in FastAPI's thread pool.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from .call_runner import call_runner
from .dmp.service import DmpService, Runtime
from .exchanges import HttpReply, oversized_exchange, record_exchange
from .store import DEFAULT_WORKSPACE

DMP_PREFIX = "/si-dmp-server/v2/services"
DMP_SERVICES = ("patients", "patientsPDQ", "patientsSpecific", "habilitations", "registry", "repository")


class DroppedConnection(Response):
    """Announces a body and never sends it: the client sees the connection cut mid-answer (fault injection)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/soap+xml"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b"<", "more_body": False})


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _to_response(reply: HttpReply) -> Response:
    if reply.delay_seconds > 0:  # an injected latency fault: waited here, on the loop, never inside the call
        await anyio.sleep(reply.delay_seconds)
    if reply.drop_connection:
        return DroppedConnection()
    return Response(content=reply.body, status_code=reply.status, media_type=None,
                    headers={"content-type": reply.content_type})


def create_app(runtime: Runtime, *, max_body_bytes: int = 64 * 1024 * 1024,
               cards_dir: Path | None = None) -> FastAPI:
    """``cards_dir``: where the virtual cards' slot files are, for the console (default: the environment's
    ``<data dir>/cards``)."""
    app = FastAPI(title="Ségur Sandbox", version=_version(),
                  description="Offline replica of the DMP and INSi services for vendors' CI. SOAP endpoints live "
                              f"under {DMP_PREFIX}/…; this API controls the sandbox.")
    app.state.runtime = runtime
    service = DmpService(runtime)
    run_call = call_runner(runtime.soap_threads)

    async def too_large(request: Request, workspace: str, name: str, started_at: datetime, t0: float) -> Response:
        """HTTP 413, and its line in the workspace's exchange log (the body itself is not kept)."""
        response = JSONResponse({"error": f"request body over the configured limit of {max_body_bytes} bytes"},
                                status_code=413)
        exchange = oversized_exchange(name, started_at, (time.perf_counter() - t0) * 1000,
                                      request.headers.get("content-type"), max_body_bytes, bytes(response.body))
        await run_in_threadpool(record_exchange, runtime.store, workspace, exchange)
        return response

    async def soap(request: Request, workspace: str, name: str) -> Response:
        if name not in DMP_SERVICES:
            return JSONResponse({"error": f"unknown DMP service {name!r}", "services": list(DMP_SERVICES)},
                                status_code=404)
        started_at, t0 = datetime.now(timezone.utc), time.perf_counter()
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            return await too_large(request, workspace, name, started_at, t0)
        reply = await run_call(service.process, workspace, name, body, request.headers.get("content-type"),
                               request.headers.get("soapaction"), _tls_client_chain(request))
        return await _to_response(reply)

    @app.post(DMP_PREFIX + "/{name}", include_in_schema=False)
    async def dmp_default(request: Request, name: str) -> Response:
        return await soap(request, DEFAULT_WORKSPACE, name)

    @app.post("/w/{workspace}" + DMP_PREFIX + "/{name}", include_in_schema=False)
    async def dmp_workspace(request: Request, workspace: str, name: str) -> Response:
        return await soap(request, workspace, name)

    from .insi.service import InsiService, wsdl_document

    insi = InsiService(runtime)

    async def insi_soap(request: Request, workspace: str) -> Response:
        started_at, t0 = datetime.now(timezone.utc), time.perf_counter()
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            return await too_large(request, workspace, "lps", started_at, t0)
        try:
            chain = _insi_client_chain(request, insi.config.client_cert_header)
        except ValueError as exc:
            return JSONResponse({"error": f"unreadable client certificate: {exc}"}, status_code=400)
        reply = await run_call(insi.process, workspace, body, request.headers.get("content-type"),
                               request.headers.get("soapaction"), chain)
        return await _to_response(reply)

    def insi_wsdl(request: Request) -> Response:
        if "wsdl" not in {key.lower() for key in request.query_params}:
            return JSONResponse({"error": "INSi endpoint: POST SOAP 1.2 requests here; GET ?wsdl for the WSDL"},
                                status_code=405, headers={"allow": "GET, POST"})
        address = str(request.url.replace(query=""))
        return Response(content=wsdl_document(address), media_type="text/xml; charset=utf-8")

    @app.post("/lps", include_in_schema=False)
    async def insi_default(request: Request) -> Response:
        return await insi_soap(request, DEFAULT_WORKSPACE)

    @app.post("/w/{workspace}/lps", include_in_schema=False)
    async def insi_workspace(request: Request, workspace: str) -> Response:
        return await insi_soap(request, workspace)

    @app.get("/lps", tags=["sandbox"])
    def insi_wsdl_default(request: Request) -> Response:
        """The WSDL of the INSi replica (``GET /lps?wsdl``; also ``/w/{workspace}/lps?wsdl``)."""
        return insi_wsdl(request)

    @app.get("/w/{workspace}/lps", include_in_schema=False)
    def insi_wsdl_workspace(request: Request, workspace: str) -> Response:
        return insi_wsdl(request)

    @app.get("/health", tags=["sandbox"])
    def health() -> dict[str, Any]:
        """Readiness: the database answers."""
        with runtime.store.transaction(readonly=True) as tx:
            tx.workspaces.get(DEFAULT_WORKSPACE)
        return {"status": "ok", "database": runtime.store.dialect}

    @app.get("/pki/crl/{slug}.crl", tags=["sandbox"])
    def crl(slug: str) -> Response:
        """Certificate revocation list of one of the test CAs."""
        try:
            data = runtime.pki.crl(slug)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            return JSONResponse({"error": f"unknown CA {slug!r}"}, status_code=404)
        return Response(content=data, media_type="application/pkix-crl")

    from .api import router as api_router

    app.include_router(api_router, prefix="/api")

    from .console import mount_console

    mount_console(app, cards_dir=cards_dir)
    return app


def _tls_client_chain(request: Request) -> list[Any]:
    """The client certificate chain of the TLS connection (the ASGI TLS extension's ``client_cert_chain``, PEM,
    leaf first: ``serve --tls`` fills it, see ``asgi_tls``); empty without TLS or without a client certificate."""
    from .insi.caller import certificates_from_pem_chain

    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain")
    return certificates_from_pem_chain(chain) if chain else []


def _insi_client_chain(request: Request, header: str) -> list[Any]:
    """The TLS client certificate chain of an INSi request: the ASGI TLS extension's ``client_cert_chain`` when
    the server provides it, else the certificate a TLS-terminating proxy forwards in ``header``."""
    from .insi.caller import certificate_from_header

    chain = _tls_client_chain(request)
    if chain:
        return chain
    value = request.headers.get(header) if header else None
    return [certificate_from_header(value)] if value else []


def _version() -> str:
    from importlib.metadata import version

    return version("segur-sandbox")


def app_from_environment() -> FastAPI:
    """App factory for worker processes (``serve --workers N``): settings from ``SEGUR_SANDBOX_*``."""
    from .config import from_environment
    from .runtime import build_runtime

    settings = from_environment()
    return create_app(build_runtime(settings), max_body_bytes=settings.max_body_bytes,
                      cards_dir=settings.data_dir / "cards")
