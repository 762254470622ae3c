"""What the DMP and INSi pipelines share around their handlers: the HTTP reply, the transport-level faults a
workspace can inject (latency, HTTP 503, a dropped connection) and the write of the exchange-log line."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .soap import SoapMessage
from .store import Exchange, Finding, PreparedExchange, Store, UnitOfWork

log = logging.getLogger("segur_sandbox.exchanges")


@dataclass(frozen=True)
class HttpReply:
    status: int
    content_type: str
    body: bytes
    drop_connection: bool = False
    # an injected latency: the HTTP layer waits this long before it answers. The call itself never sleeps: it may
    # run on the worker's event loop (app.call_runner), where a sleep would stall every other connection.
    delay_seconds: float = 0.0


UNAVAILABLE = HttpReply(503, "text/plain; charset=utf-8", "Service temporairement indisponible".encode())
DROPPED = HttpReply(200, "text/plain", b"", drop_connection=True)


def transport_fault(fault: Any) -> HttpReply | None:
    """The answer of an injected fault that acts below SOAP instead of the service: HTTP 503, a dropped
    connection. None for the other kinds: latency lets the call go on (``fault_delay``), the rest are the
    service's own business."""
    if fault is None:
        return None
    if fault.kind == "http_503":
        return UNAVAILABLE
    if fault.kind == "drop_connection":
        return DROPPED
    return None


def fault_finding(fault: Any) -> Finding:
    """The exchange log's note that a request met an injected fault (kind and parameters)."""
    return Finding("SANDBOX-FAULT", "info", f"injected fault {fault.kind} {dict(fault.params)}")


def fault_delay(fault: Any) -> float:
    """Seconds an injected latency fault holds the answer back (0 for other kinds, or no fault)."""
    if fault is None or fault.kind != "latency":
        return 0.0
    return fault.params["ms"] / 1000


def record_exchange(store: Store, workspace: str, exchange: Exchange, *, workspace_known: bool = False) -> None:
    """Append the exchange to the workspace's log; losing a log line must never lose the answer."""
    try:
        # compressed before the unit of work: on SQLite it holds the writer lock every worker process queues on
        prepared = PreparedExchange.of(workspace, exchange)
        with store.transaction() as tx:
            if workspace_known or tx.workspaces.get(workspace) is not None:
                tx.exchanges.append(workspace, prepared, savepoint=False)
    except Exception:  # noqa: BLE001
        log.exception("could not record the exchange")
    log_line(workspace, exchange)


def append_exchange(tx: UnitOfWork, workspace: str, exchange: Exchange, *, savepoint: bool = True) -> bool:
    """Append the exchange inside the caller's unit of work, so a call and its log line cost one transaction. False
    when that failed: the caller then uses ``record_exchange`` after its own transaction. ``savepoint``: the line
    goes in a savepoint, so that its failure rolls back nothing the call wrote; a call that wrote nothing (a
    search) spares the savepoint's two statements (round trips on PostgreSQL), its unit of work then only ends."""
    try:
        tx.exchanges.append(workspace, exchange, savepoint=savepoint)
    except Exception:  # noqa: BLE001
        log.exception("could not record the exchange in the call's transaction")
        return False
    return True


def log_line(workspace: str, exchange: Exchange) -> None:
    log.info("exchange workspace=%s service=%s transaction=%s status=%s verdict=%s duration_ms=%.1f", workspace,
             exchange.service, exchange.transaction, exchange.http_status, exchange.verdict, exchange.duration_ms)


def oversized_exchange(service: str, started_at: Any, duration_ms: float, content_type: str | None, limit: int,
                       response: bytes) -> Exchange:
    """The log line of a request refused with HTTP 413 before it was read in full: no request body is kept (only
    its content type), the finding says why."""
    return Exchange(started_at=started_at, duration_ms=duration_ms, service=service, http_status=413,
                    request_content_type=content_type, request=None,
                    response_content_type="application/json", response=response, verdict="fail",
                    findings=(Finding("HTTP-413", "error", f"corps de requête au-delà de la limite configurée "
                                                           f"({limit} octets) : refusé sans être lu"),))


# Structural client checks run live on every request (the conformance suite's own rules, so an exchange in the
# log and `segur-sandbox validate` on its request agree). Feeds are also checked by the DMP's feed validation.
LIVE_RULE_SETS = ("transport", "vihf", "insi")


def live_findings(message: SoapMessage | None) -> list[Finding]:
    """The conformance findings of a parsed request; a rule that breaks is logged, never fails the call."""
    if message is None:
        return []
    try:
        from segur_sandbox.conformance.artifacts import SoapArtifact
        from segur_sandbox.conformance.rules import evaluate

        report = evaluate(SoapArtifact(name="request", message=message), LIVE_RULE_SETS)
    except Exception:  # noqa: BLE001
        log.exception("live conformance rules failed")
        return []
    return [Finding(f.rule_id, f.severity, f.message, f.location) for f in report.findings]
