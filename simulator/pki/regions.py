"""Région of a structure, for the ``ST=`` attribute of organisation certificates (spec A.7).

Structure records carry a postal code, not a région, so the région is looked up from the département the
postal code starts with (2016 régions). A record may override it with a ``region`` field.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_REGIONS: dict[str, tuple[str, ...]] = {
    "Auvergne-Rhône-Alpes": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "Bourgogne-Franche-Comté": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "Bretagne": ("22", "29", "35", "56"),
    "Centre-Val de Loire": ("18", "28", "36", "37", "41", "45"),
    "Corse": ("2A", "2B"),
    "Grand Est": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "Hauts-de-France": ("02", "59", "60", "62", "80"),
    "Île-de-France": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "Normandie": ("14", "27", "50", "61", "76"),
    "Nouvelle-Aquitaine": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "Occitanie": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "Pays de la Loire": ("44", "49", "53", "72", "85"),
    "Provence-Alpes-Côte d'Azur": ("04", "05", "06", "13", "83", "84"),
    "Guadeloupe": ("971",),
    "Martinique": ("972",),
    "Guyane": ("973",),
    "La Réunion": ("974",),
    "Mayotte": ("976",),
}
_BY_DEPARTEMENT = {dept: region for region, depts in _REGIONS.items() for dept in depts}
_FALLBACK = "France"


def departement(postal_code: str) -> str | None:
    code = postal_code.strip()
    if len(code) != 5 or not code.isdigit():
        return None
    if code.startswith("97") or code.startswith("98"):
        return code[:3]
    if code.startswith("20"):
        # Corsican postal codes: 200xx/201xx are Corse-du-Sud, the rest Haute-Corse.
        return "2A" if code[2] in "01" else "2B"
    return code[:2]


def region_of(structure: Mapping[str, Any]) -> str:
    explicit = structure.get("region")
    if isinstance(explicit, str) and explicit:
        return explicit
    address = structure.get("address") or {}
    dept = departement(str(address.get("postal_code", "")))
    return _BY_DEPARTEMENT.get(dept or "", _FALLBACK)
