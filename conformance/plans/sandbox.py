"""The runner's two ways to a sandbox: its admin API over HTTP (``SandboxApi``, for a server given with
``--server`` or one started here), and ``LocalServer``, a sandbox started in this process on a free port with
its own SQLite file, for a run that names no server.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


class SandboxError(RuntimeError):
    """The sandbox's admin API refused or failed a call the runner needed."""


@dataclass
class SandboxApi:
    base_url: str
    http: httpx.Client

    @classmethod
    def connect(cls, base_url: str, *, timeout: float = 120.0) -> SandboxApi:
        base = base_url.rstrip("/")
        return cls(base, httpx.Client(base_url=base, timeout=timeout))

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SandboxError(f"{method} {self.base_url}{path}: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text[:300]
            raise SandboxError(f"{method} {path} answered HTTP {response.status_code}: {detail}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- the server ---------------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def dmp_url(self, workspace: str) -> str:
        return f"{self.base_url}/w/{workspace}/si-dmp-server/v2/services"

    def insi_url(self, workspace: str) -> str:
        return f"{self.base_url}/w/{workspace}/lps"

    # -- workspaces ---------------------------------------------------------------------------------------------
    def create_workspace(self, workspace: str, *, populate: bool = True) -> dict[str, Any]:
        return self._call("POST", "/api/workspaces", json={"id": workspace, "populate": populate})

    def delete_workspace(self, workspace: str) -> None:
        self._call("DELETE", f"/api/workspaces/{workspace}")

    # -- patients, authorisations, documents --------------------------------------------------------------------
    def patients(self, workspace: str, *, dmp_state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if dmp_state:
            params["dmp_state"] = dmp_state
        return self._call("GET", f"/api/workspaces/{workspace}/patients", params=params)["items"]

    def patient(self, workspace: str, ins: str) -> dict[str, Any]:
        return self._call("GET", f"/api/workspaces/{workspace}/patients/{ins}")

    def set_dmp(self, workspace: str, ins: str, **change: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/api/workspaces/{workspace}/patients/{ins}/dmp", json=change)

    def set_authorization(self, workspace: str, ins: str, id_nat: str, status: str, *,
                          is_mt: bool | None = None, expires_at: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if is_mt is not None:
            body["is_mt"] = is_mt
        if expires_at is not None:
            body["expires_at"] = expires_at
        return self._call("PUT", f"/api/workspaces/{workspace}/patients/{ins}/authorizations/{id_nat}", json=body)

    def remove_authorization(self, workspace: str, ins: str, id_nat: str) -> None:
        try:
            self._call("DELETE", f"/api/workspaces/{workspace}/patients/{ins}/authorizations/{id_nat}")
        except SandboxError as exc:
            if "HTTP 404" not in str(exc):
                raise

    def documents(self, workspace: str, ins: str, *, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        params: list[tuple[str, Any]] = [("limit", 500)] + [("status", s) for s in statuses]
        return self._call("GET", f"/api/workspaces/{workspace}/patients/{ins}/documents", params=params)["items"]

    def document(self, workspace: str, document_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/api/workspaces/{workspace}/documents/{document_id}")
        except SandboxError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def document_content(self, workspace: str, document_id: str) -> bytes:
        response = self.http.get(f"/api/workspaces/{workspace}/documents/{document_id}/content")
        if response.status_code != 200:
            raise SandboxError(f"content of {document_id}: HTTP {response.status_code}")
        return response.content

    def set_document_status(self, workspace: str, document_id: str, status: str) -> dict[str, Any]:
        return self._call("PATCH", f"/api/workspaces/{workspace}/documents/{document_id}", json={"status": status})

    def professional(self, workspace: str, key: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/api/workspaces/{workspace}/professionals/{key}")
        except SandboxError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    # -- faults, clock, exchanges -------------------------------------------------------------------------------
    def add_fault(self, workspace: str, fault: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/api/workspaces/{workspace}/faults", json=fault)

    def set_clock(self, workspace: str, offset_seconds: int) -> dict[str, Any]:
        return self._call("PUT", f"/api/workspaces/{workspace}/clock", json={"offset_seconds": offset_seconds})

    def latest_exchange_id(self, workspace: str) -> int:
        page = self._call("GET", f"/api/workspaces/{workspace}/exchanges", params={"limit": 1})
        return int(page.get("latest_id") or 0)

    def exchanges_since(self, workspace: str, since_id: int) -> list[dict[str, Any]]:
        """Every exchange recorded after ``since_id``, oldest first."""
        collected: list[dict[str, Any]] = []
        before: int | None = None
        while True:
            params: dict[str, Any] = {"since_id": since_id, "limit": 500}
            if before is not None:
                params["before_id"] = before
            page = self._call("GET", f"/api/workspaces/{workspace}/exchanges", params=params)
            items = page.get("items", [])
            collected.extend(items)
            if not page.get("truncated") or not items:
                break
            before = min(item["id"] for item in items)
        return sorted({e["id"]: e for e in collected}.values(), key=lambda e: e["id"])

    def exchange(self, workspace: str, exchange_id: int) -> dict[str, Any]:
        return self._call("GET", f"/api/workspaces/{workspace}/exchanges/{exchange_id}")

    def post_run(self, run: dict[str, Any]) -> None:
        self._call("POST", "/api/conformance-runs", json=run)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """A sandbox on 127.0.0.1 in a background thread (uvicorn), its data in ``data_dir``."""

    def __init__(self, data_dir: Path, *, seed: int = 1, patients: int = 8, documents_per_patient: int = 3) -> None:
        from segur_sandbox.simulator.app import create_app
        from segur_sandbox.simulator.config import Settings
        from segur_sandbox.simulator.runtime import build_runtime

        self.port = free_port()
        self.settings = Settings(host="127.0.0.1", port=self.port, data_dir=data_dir, seed=seed, patients=patients,
                                 documents_per_patient=documents_per_patient)
        self.runtime = build_runtime(self.settings, pki=_cached_pki(seed))
        self.app = create_app(self.runtime, max_body_bytes=self.settings.max_body_bytes)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="segur-sandbox-local", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SandboxError("the local sandbox server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.runtime.store.engine.dispose()


def _cached_pki(seed: int) -> Any:
    """The seed's test PKI from a per-user cache: building it (the key search) takes seconds, and the port of a
    local server changes every run. The CRL URLs its certificates name are the default server's; nothing here
    fetches them (the sandbox checks revocation from its own lists)."""
    from segur_sandbox.simulator.pki import TestPKI

    return TestPKI.open(cache_root() / f"pki-seed-{seed}", seed)


def cache_root() -> Path:
    import os

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "segur-sandbox"
