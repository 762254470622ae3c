"""One settings object for the server: defaults, then ``SEGUR_SANDBOX_*`` environment variables, then CLI flags.

Printed at start (secrets have none here: everything is a test value).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "SEGUR_SANDBOX_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".sandbox")
    db: str = ""  # empty: embedded SQLite file in data_dir
    seed: int = 1
    patients: int = 200
    documents_per_patient: int = 3
    max_body_bytes: int = 64 * 1024 * 1024  # above: HTTP 413
    vihf_lenient: bool = False  # accept unsigned VIHF assertions (official examples embed unsigned ones)
    clock_skew_seconds: int = 300
    vihf_max_age_seconds: int = 7200
    require_xades: bool = True
    workers: int = 1  # server processes sharing the database (no per-workspace state lives in a process)
    tls: bool = False  # HTTPS with the sandbox's own server certificate (test PKI)
    tls_client_cert: str = "optional"  # none | optional | required: client certificates checked against the test CA
    # DMP: a TLS client certificate must fit the VIHF's Authentification_mode (CPx card in DIRECTE, the structure's
    # ORG AUTH_CLI in the indirect modes; security/tls_client.py). Off: any certificate the TLS layer accepted.
    tls_vihf_check: bool = True
    # SOAP calls (DMP, INSi): 0 runs them on each worker's event loop, one at a time (fastest on a local database);
    # N runs up to N at once in threads, for a database across the network (call_runner.py)
    soap_threads: int = 0
    # PostgreSQL: the exchange-log line of a search or a retrieve (TD3.1, TD3.2), their only write, commits without
    # waiting for the WAL flush (Store.transaction); on: it waits, as every other write does
    pg_durable_read_log: bool = False

    @property
    def database_url(self) -> str:
        if self.db:
            return self.db
        return f"sqlite:///{(self.data_dir / 'sandbox.db').resolve()}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def describe(self) -> dict[str, Any]:
        return {f.name: (str(getattr(self, f.name)) if isinstance(getattr(self, f.name), Path) else getattr(self, f.name))
                for f in fields(self)}


def to_environment(settings: Settings) -> dict[str, str]:
    """The settings as ``SEGUR_SANDBOX_*`` variables: how worker processes receive them."""
    out: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, tuple):
            text = ",".join(value)
        else:
            text = str(value)
        out[ENV_PREFIX + f.name.upper()] = text
    return out


def _coerce(raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, Path):
        return Path(raw)
    if isinstance(current, tuple):
        return tuple(v.strip() for v in raw.split(",") if v.strip())
    return raw


def from_environment(base: Settings | None = None, environ: dict[str, str] | None = None) -> Settings:
    base = base or Settings()
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(base):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            try:
                values[f.name] = _coerce(env[key], getattr(base, f.name))
            except ValueError as exc:
                raise ValueError(f"{key}={env[key]!r}: {exc}") from exc
    return replace(base, **values)
