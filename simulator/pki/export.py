"""``credentials export``: the CA chain, CRLs and every credential of a fixture set, with an index.

Layout of ``out_dir`` (all paths in ``index.json`` are relative to it)::

    index.json
    ca/<slug>.cert.pem, ca/chain.pem          issuing CAs then root
    crl/<slug>.crl                            DER, as served at <base_url>/crl/<slug>.crl
    professionals/<record id>/<cps|cpe>-<auth|sign>[-<variant>].{cert.pem,key.pem,p12}
    structures/<record id>/<org-auth-cli|org-sign|insi-auto|insi-manu>[-<variant>].{cert.pem,key.pem,p12}

Keys are unencrypted PKCS#8 PEM; the PKCS#12 files use password ``1234`` unless told otherwise.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from . import profiles
from .material import DEFAULT_PKCS12_PASSWORD, Issued, cert_pem, sha256_fingerprint
from .names import CA_PROFILES, CardType, OrgKind, Usage, Variant

if TYPE_CHECKING:
    from .authority import TestPKI

EXPORT_FORMAT = "segur-sandbox/pki-export/1"
ORG_KINDS: tuple[OrgKind, ...] = ("AUTH_CLI", "SIGN", "INSI-AUTO", "INSI-MANU")
ORG_FILE_NAMES: dict[OrgKind, str] = {
    "AUTH_CLI": "org-auth-cli",
    "SIGN": "org-sign",
    "INSI-AUTO": "insi-auto",
    "INSI-MANU": "insi-manu",
}
NEGATIVE_VARIANTS: tuple[Variant, ...] = ("expired", "revoked", "wrong_usage")


def _dir_name(record: Mapping[str, Any]) -> str:
    raw = str(record.get("id") or record.get("id_nat") or "unnamed")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


def _write(out_dir: Path, relative: str, data: bytes) -> str:
    target = out_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return relative


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": f"{cert.serial_number:x}",
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": sha256_fingerprint(cert),
    }


def _credential(out_dir: Path, stem: str, issued: Issued, password: str) -> dict[str, Any]:
    return {
        "usage": issued.usage,
        "variant": issued.variant,
        "ca": issued.ca,
        **_describe(issued.certificate),
        "files": {
            "cert": _write(out_dir, f"{stem}.cert.pem", issued.cert_pem()),
            "key": _write(out_dir, f"{stem}.key.pem", issued.key_pem()),
            "pkcs12": _write(out_dir, f"{stem}.p12", issued.pkcs12(password)),
        },
    }


def _card_type(professional: Mapping[str, Any]) -> CardType:
    # Records may say which card a person holds; everyone else gets a CPS.
    return "CPE" if professional.get("card_type") == "CPE" else "CPS"


def export_credentials(
    pki: TestPKI,
    out_dir: Path,
    professionals: Sequence[Mapping[str, Any]],
    structures: Sequence[Mapping[str, Any]],
    *,
    pkcs12_password: str = DEFAULT_PKCS12_PASSWORD,
    negatives: bool = False,
) -> Path:
    """Write the bundle and return the path of its ``index.json``.

    ``negatives`` adds, per professional signature and per ORG SIGN, the expired, revoked and
    wrong-usage variants, for the rejection tests of the DMP and INSi.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    structures_by_id = {s.get("id"): s for s in structures}
    person_variants: list[tuple[Usage, Variant]] = [("auth", "valid"), ("sign", "valid")]
    org_variants: list[tuple[OrgKind, Variant]] = [(kind, "valid") for kind in ORG_KINDS]
    if negatives:
        person_variants += [("sign", variant) for variant in NEGATIVE_VARIANTS]
        org_variants += [("SIGN", variant) for variant in NEGATIVE_VARIANTS]
    people = [(p, structures_by_id.get(p.get("structure_id")), _card_type(p)) for p in professionals]

    # Key search dominates a cold export; let it run on every core before issuing one by one.
    labels = [
        profiles.professional_spec(pki.seed, person, structure, usage, card_type, variant).key_label
        for person, structure, card_type in people
        for usage, variant in person_variants
    ] + [profiles.organisation_spec(pki.seed, structure, kind, variant).key_label for structure in structures for kind, variant in org_variants]
    pki.prefetch_keys(labels)

    credentials: list[dict[str, Any]] = []
    for professional, structure, card_type in people:
        folder = f"professionals/{_dir_name(professional)}"
        for usage, variant in person_variants:
            issued = pki.professional(professional, structure, usage, card_type, variant)
            suffix = "" if variant == "valid" else f"-{variant.replace('_', '-')}"
            entry = _credential(out_dir, f"{folder}/{card_type.lower()}-{usage}{suffix}", issued, pkcs12_password)
            credentials.append(
                {
                    "owner": "professional",
                    "record_id": professional.get("id"),
                    "national_id": professional["id_nat"],
                    "name": f"{professional.get('given', '')} {professional.get('family', '')}".strip(),
                    "structure_id": professional.get("structure_id"),
                    "card_type": card_type,
                    **entry,
                }
            )

    for structure in structures:
        folder = f"structures/{_dir_name(structure)}"
        for kind, variant in org_variants:
            issued = pki.organisation(structure, kind, variant)
            suffix = "" if variant == "valid" else f"-{variant.replace('_', '-')}"
            entry = _credential(out_dir, f"{folder}/{ORG_FILE_NAMES[kind]}{suffix}", issued, pkcs12_password)
            credentials.append(
                {
                    "owner": "structure",
                    "record_id": structure.get("id"),
                    "national_id": structure["id_nat"],
                    "name": structure.get("name"),
                    "kind": kind,
                    **entry,
                }
            )

    cas = []
    for cert in pki.ca_chain():
        slug = next(s for s in CA_PROFILES if pki.authority(s).certificate == cert)
        cas.append({"slug": slug, **_describe(cert), "file": _write(out_dir, f"ca/{slug}.cert.pem", cert_pem(cert))})
    chain_file = _write(out_dir, "ca/chain.pem", pki.ca_chain_pem())

    # Last, so the CRLs list the revoked variants issued above.
    crls = [
        {
            "ca": slug,
            "url": pki.crl_url(slug),
            "revoked_serials": sorted(f"{s:x}" for s in pki.revoked_serials(slug)),
            "file": _write(out_dir, f"crl/{slug}.crl", pki.crl(slug)),
        }
        for slug in CA_PROFILES
    ]

    index = {
        "format": EXPORT_FORMAT,
        "notice": "Certificats FICTIFS de la sandbox Segur : aucune valeur hors de la sandbox.",
        "seed": pki.seed,
        "not_before": pki.not_before.isoformat(),
        "base_url": pki.base_url,
        "pkcs12_password": pkcs12_password,
        "ca_chain": chain_file,
        "cas": cas,
        "crls": crls,
        "credentials": credentials,
    }
    index_path = out_dir / "index.json"
    index_path.write_text(json.dumps(index, indent=2, ensure_ascii=False), encoding="utf-8")
    return index_path
