"""SOAP over HTTP, and what can go wrong with it.

Every call of the DMP and of INSi goes through ``Transport.post``: one place decides the time-out, the one retry
on HTTP 503 (after a pause: an unavailable service must not be hammered), and turns every kind of failure into a
``ServiceError`` carrying what the user is shown (PRE_ERR): the transaction, the service's code and its text.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx

from segur_sandbox.simulator.insi.faults import error_code_of
from segur_sandbox.simulator.soap import SoapError, SoapFault
from segur_sandbox.simulator.testing import SoapReply, parse_reply

from .breaks import Breaks

log = logging.getLogger("reference_client")

DEFAULT_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 1.0


class ServiceError(Exception):
    """An error answer (SOAP fault, registry error, HTTP 5xx) or no answer (time-out, network)."""

    def __init__(self, transaction: str, code: str, message: str) -> None:
        super().__init__(f"{transaction}: {code} {message}")
        self.transaction, self.code, self.message = transaction, code, message

    def as_dict(self) -> dict[str, str]:
        return {"transaction": self.transaction, "code": self.code, "message": self.message}


def fault_code(fault: SoapFault) -> str:
    """The most specific code of a fault: INSi's siram:Erreur code, else the DMP's subcode (DMPAccessDenied…)."""
    specific = error_code_of(fault)
    if specific:
        return specific
    if fault.subcode is not None:
        return getattr(fault.subcode, "localname", None) or str(fault.subcode)
    return fault.code


def fault_text(fault: SoapFault) -> str:
    """INSi puts the specific reason in siram:Erreur (the Reason is generic); the DMP in the Reason."""
    for item in fault.detail:
        if (item.text or "").strip() and item.tag.endswith("}Erreur"):
            return item.text.strip()
    return fault.reason


@dataclass
class Transport:
    http: httpx.Client
    breaks: Breaks

    @classmethod
    def open(cls, breaks: Breaks, timeout_s: float = DEFAULT_TIMEOUT_S) -> Transport:
        timeout = None if "no-timeout" in breaks else timeout_s  # BREAK no-timeout: wait forever
        return cls(httpx.Client(timeout=timeout), breaks)

    def close(self) -> None:
        self.http.close()

    def post(self, transaction: str, url: str, data: bytes, content_type: str) -> SoapReply:
        """POST a SOAP message; the parsed answer, or ServiceError for anything but a SOAP answer without fault."""
        retries = 10 if "retry-storm" in self.breaks else 1  # BREAK retry-storm: 10 retries, no pause
        for attempt in range(retries + 1):
            try:
                response = self.http.post(url, content=data, headers={"content-type": content_type})
            except httpx.TimeoutException:
                raise ServiceError(transaction, "TIMEOUT", "Le service n'a pas répondu dans le délai imparti "
                                   f"({self.http.timeout.read or 0:g} s).") from None
            except httpx.HTTPError as exc:
                raise ServiceError(transaction, "NETWORK", f"Service injoignable : {exc}") from None
            log.info("%s → HTTP %s", transaction, response.status_code)
            if response.status_code != 503 or attempt == retries:
                break
            if "retry-storm" not in self.breaks:
                time.sleep(RETRY_PAUSE_S)
        try:
            reply = parse_reply(response)
        except (SoapError, ValueError) as exc:
            raise ServiceError(transaction, f"HTTP {response.status_code}",
                               f"Réponse illisible du service : {exc}") from None
        if reply.fault is not None:
            raise ServiceError(transaction, fault_code(reply.fault), fault_text(reply.fault))
        if reply.status != 200 or reply.message is None:
            text = response.text.strip()[:300] or response.reason_phrase
            raise ServiceError(transaction, f"HTTP {response.status_code}", text)
        return reply
