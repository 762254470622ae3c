"""``--break NAME``: make the client misbehave in one named way.

The conformance suite uses these to show that each of its checks can fail: run the plan once with the client as
it is (everything passes), then once per break (the matching case fails). Every break is one small branch in the
code, marked ``# BREAK <name>`` so it is easy to find, and easy to see what the correct behaviour is.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

BREAKS: dict[str, str] = {
    "no-td02": "skip TD0.2 (go straight to search/feed)",
    "ignore-access": "do TD0.2 but go on whatever it answered (closed, NF, INTERDIT, EXPIRE)",
    "no-td03": "never declare an authorisation with TD0.3 (NON_EXISTE/EXPIRE are refused)",
    "show-all": "search Approved, Deprecated and Archived documents and show them all",
    "hide-errors": "on an error answer, report status done with no errors",
    "retry-storm": "on HTTP 503, retry 10 times at once",
    "no-timeout": "no HTTP time-out at all",
    "stale-clock": "VIHF issued two days in the past",
    "bad-metadata": "feed with a classCode that does not match the typeCode",
    "no-replace": "replace by feeding a brand-new document (no RPLC association)",
    "no-mask": "mask: report done without adding MASQUE_PS (the DMP refuses an update that changes nothing)",
    "no-delete": "delete: archive the document instead",
    "feed-unqualified": "use a non-qualified identity with the DMP",
    "skip-insi": "ins-vitale: report the identity read from the card without calling INSi",
    "bad-traits": "ins-traits: lowercase given names, birth day and month swapped",
    "guess-identity": "ins-traits: on not found / several, make an identity up from the traits",
    "skip-feed": "act: feed nothing, report done",
    "skip-feed-entretien": "act: feed nothing for an entretien, report done",
    "medecin-metadata": "feed with a médecin généraliste's author metadata instead of the professional's",
}

ENV_VARIABLE = "REFERENCE_CLIENT_BREAK"


class Breaks(frozenset[str]):
    """The set of active breaks; ``"name" in breaks`` reads well at each branch."""

    @classmethod
    def parse(cls, names: Iterable[str] = (), environ: dict[str, str] | None = None) -> Breaks:
        env = os.environ if environ is None else environ
        chosen = [n.strip() for n in (env.get(ENV_VARIABLE) or "").split(",") if n.strip()]
        chosen += [n.strip() for name in names for n in name.split(",") if n.strip()]
        unknown = sorted(set(chosen) - set(BREAKS))
        if unknown:
            raise ValueError(f"unknown break(s) {', '.join(unknown)}; known: {', '.join(BREAKS)}")
        return cls(chosen)
