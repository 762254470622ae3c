"""Console pages that steer the sandbox: fault injection (one-click toggles and a full form), the workspace clock,
and the virtual cards inserted in the PC/SC readers.

Faults and the clock go through the admin API's own models (``api.faults.FaultIn``, ``api.clock.ClockIn``), so the
console accepts exactly what the API accepts and says why it refuses the rest.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from ..api.clock import ClockIn
from ..api.common import MAX_ID
from ..api.faults import TRANSACTIONS, FaultIn
from ..cards.bay import list_slots
from ..store import Fault
from . import labels
from .common import ConsoleError, ConsoleRoute, read_form, redirect, render, workspace_now, workspace_tx

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

_FAULT = TypeAdapter(FaultIn)
CLOCK_SHIFTS = (("−1 jour", -86_400), ("+1 jour", 86_400), ("+30 jours", 30 * 86_400),
                ("+1 an", 365 * 86_400))


@dataclass(frozen=True)
class Preset:
    """A one-click fault: on any transaction, any patient, any caller, until switched off."""

    kind: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, fault: Fault) -> bool:
        return (fault.kind == self.kind and fault.transaction is None and fault.patient_ins is None
                and fault.professional is None and fault.remaining is None and dict(fault.params) == self.params)


PRESETS: dict[str, Preset] = {
    "http_503": Preset("http_503", "Service indisponible : chaque requête reçoit HTTP 503"),
    "soap_fault": Preset("soap_fault", "Faute SOAP du DMP (Receiver) sur chaque requête",
                         {"code": "DMPInternalError", "reason": "Erreur technique simulée par le bac à sable",
                          "sender": False}),
    "latency": Preset("latency", "Réponses retardées de 3 secondes", {"ms": 3000}),
    "drop_connection": Preset("drop_connection", "Connexion coupée au milieu de chaque réponse"),
}


def _validation(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'faute'} : {e['msg']}" for e in exc.errors())


@router.get("/w/{workspace}/controls")
def controls_page(workspace: str, request: Request) -> HTMLResponse:
    with workspace_tx(request, workspace) as tx:
        faults = tx.controls.list_faults(workspace)
        offset = tx.controls.clock_offset(workspace)
        now = workspace_now(tx, workspace)
    presets = [(name, preset, any(preset.matches(f) for f in faults)) for name, preset in PRESETS.items()]
    return render(request, "controls.html", {
        "ws": workspace, "faults": faults, "presets": presets, "offset": offset, "now": now,
        "real_now": datetime.now(UTC), "shifts": CLOCK_SHIFTS, "transactions": TRANSACTIONS,
        "fault_kinds": labels.choices("fault"), "saved": request.query_params.get("saved"),
    })


@router.post("/w/{workspace}/faults/toggle")
async def toggle_fault(workspace: str, request: Request) -> Response:
    form = await read_form(request)
    preset = PRESETS.get(form.get("preset", ""))
    if preset is None:
        raise ConsoleError(422, f"Bascule inconnue : « {form.get('preset', '')} » (attendu : {', '.join(PRESETS)}).")
    with workspace_tx(request, workspace, readonly=False) as tx:
        active = [f for f in tx.controls.list_faults(workspace) if preset.matches(f)]
        for fault in active:
            tx.controls.remove_fault(workspace, fault.id)
        if not active:
            tx.controls.add_fault(workspace, preset.kind, params=preset.params)  # type: ignore[arg-type]
    return redirect(request, f"/w/{workspace}/controls", saved="fault")


@router.post("/w/{workspace}/faults")
async def add_fault(workspace: str, request: Request) -> Response:
    """The full form: kind, scope (transaction, patient, caller), how many hits, and the kind's parameters."""
    form = await read_form(request)
    kind = form.get("kind", "")
    params: dict[str, Any] = {}
    if kind == "latency":
        params["ms"] = form.get("ms", "")
    elif kind == "soap_fault":
        params.update(code=form.get("code", ""), reason=form.get("reason", ""), sender=form.get("sender") != "0")
    elif kind == "registry_error":
        params["code"] = form.get("code", "")
        if form.get("context"):
            params["context"] = form["context"]
    body = {"kind": kind, "params": params}
    for name in ("transaction", "remaining", "patient_ins", "professional"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    try:
        fault = _FAULT.validate_python(body)
    except ValidationError as exc:
        raise ConsoleError(422, "Faute refusée — " + _validation(exc)) from None
    with workspace_tx(request, workspace, readonly=False) as tx:
        tx.controls.add_fault(workspace, fault.kind, transaction=fault.transaction,
                              params=fault.params.model_dump(exclude_none=True), remaining=fault.remaining,
                              patient_ins=fault.patient_ins, professional=fault.professional)
    return redirect(request, f"/w/{workspace}/controls", saved="fault")


@router.post("/w/{workspace}/faults/{fault_id}/delete")
async def delete_fault(workspace: str, request: Request, fault_id: int = FastPath(..., ge=1, le=MAX_ID)) -> Response:
    await read_form(request)
    with workspace_tx(request, workspace, readonly=False) as tx:
        if not tx.controls.remove_fault(workspace, fault_id):
            raise ConsoleError(404, f"Aucune faute n° {fault_id} (déjà consommée ou supprimée).")
    return redirect(request, f"/w/{workspace}/controls", saved="fault")


@router.post("/w/{workspace}/faults/clear")
async def clear_faults(workspace: str, request: Request) -> Response:
    await read_form(request)
    with workspace_tx(request, workspace, readonly=False) as tx:
        tx.controls.clear_faults(workspace)
    return redirect(request, f"/w/{workspace}/controls", saved="fault")


@router.post("/w/{workspace}/clock")
async def set_clock(workspace: str, request: Request) -> Response:
    """``offset_seconds`` sets the offset; ``shift`` moves the clock from where it is."""
    form = await read_form(request)
    with workspace_tx(request, workspace, readonly=False) as tx:
        current = tx.controls.clock_offset(workspace)
        try:
            if form.get("shift"):
                clock = ClockIn.model_validate({"offset_seconds": current + int(form["shift"])})
            else:
                clock = ClockIn.model_validate({"offset_seconds": int(form.get("offset_seconds", ""))})
        except ValueError as exc:  # int() of a non-number, or ClockIn's bounds (a ValidationError is one)
            message = _validation(exc) if isinstance(exc, ValidationError) else "un nombre entier de secondes"
            raise ConsoleError(422, f"Décalage d'horloge refusé — {message}") from None
        tx.controls.set_clock_offset(workspace, clock.offset_from(datetime.now(UTC)))
    return redirect(request, f"/w/{workspace}/controls", saved="clock")


# -- virtual cards --------------------------------------------------------------------------------------------
def cards_dir(request: Request) -> Path:
    """Where ``cards insert`` and ``serve --cards`` write their slot files (``<data dir>/cards``)."""
    configured = getattr(request.app.state, "console_cards_dir", None)
    if configured is not None:
        return Path(configured)
    from ..config import Settings, from_environment

    try:
        return from_environment().data_dir / "cards"
    except ValueError:  # a malformed SEGUR_SANDBOX_* variable: the page still shows, from the default folder
        return Settings().data_dir / "cards"


@dataclass(frozen=True)
class CardRow:
    record: dict[str, Any]
    pin: str  # what is known of the PIN state


def _pin_state(record: dict[str, Any]) -> str:
    """The slot files carry the PIN state when the card's owner publishes it; say so plainly when it does not."""
    if record.get("kind") == "vitale":
        return "sans code porteur (carte Vitale)"
    if record.get("pin_blocked"):
        return "PIN bloqué (débloquer avec le PUK)"
    tries = record.get("pin_tries_left")
    if isinstance(tries, int):
        verified = " — vérifié dans la session en cours" if record.get("pin_verified") else ""
        return f"{tries} essai(s) restant(s) sur 3{verified}"
    return "non publié par le processus qui tient la carte (PIN par défaut : 1234, 3 essais)"


@router.get("/cards")
def cards_page(request: Request) -> HTMLResponse:
    folder = cards_dir(request)
    try:
        rows = [CardRow(record, _pin_state(record)) for record in list_slots(folder)]
        problem = None
    except OSError as exc:  # an unreadable folder is something to say, not a 500
        rows, problem = [], f"dossier {folder} illisible : {exc.strerror or exc}"
    except (KeyError, TypeError, ValueError) as exc:  # a slot file written by hand, or by another version
        rows, problem = [], f"fichier d'emplacement invalide dans {folder} : {exc!r}"
    return render(request, "cards.html", {"cards": rows, "folder": folder, "problem": problem,
                                          "pid": os.getpid()})
