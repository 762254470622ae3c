"""``TestPKI``: the sandbox's IGC-Santé-shaped test PKI, built from a seed and cached on disk."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import derive, profiles, rsakeys
from .crl import build_crl, revocation_time
from .material import Issued, cert_pem, key_pem
from .names import DEFAULT_BASE_URL, CA_PROFILES, CaSlug, CardType, OrgKind, Usage, Variant
from .profiles import Authority, LeafSpec
from .store import CacheStore, file_stem, new_index
from .verify import ChainVerdict, as_utc, is_auth_cert, is_signature_cert, verify_chain

DEFAULT_NOT_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _load_key(data: bytes) -> rsa.RSAPrivateKey:
    # Our own cache, written from keys validated when they were derived: re-validating costs ~30 ms a key.
    key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("sandbox PKI cache holds a non-RSA key")
    return key


class TestPKI:
    """Root CA, a FORT PERSONNES-like CA for card holders and an ELEMENTAIRE ORGANISATIONS-like CA.

    Same ``seed`` (and ``not_before``, ``base_url``) means byte-identical certificates, keys and CRLs.
    End-entity material is issued on first request and cached alongside the CAs.
    """

    __test__ = False  # the name starts with "Test"; keep pytest from collecting it

    def __init__(
        self,
        seed: int,
        authorities: Mapping[CaSlug, Authority],
        *,
        not_before: datetime,
        base_url: str,
        store: CacheStore | None,
        index: dict[str, Any] | None,
    ) -> None:
        self.seed = seed
        self.not_before = not_before
        self.base_url = base_url
        self._authorities = dict(authorities)
        # looked up on every chain check (each VIHF, each XAdES): built once
        self._authority_certs = tuple(a.certificate for a in self._authorities.values())
        self._slug_by_cert = {a.certificate: slug for slug, a in self._authorities.items()}
        self._store = store
        self._params = _params(seed, not_before, base_url)
        self._lock = threading.RLock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._issued: dict[str, Issued] = {}
        self._index: dict[str, Any] = index or new_index(self._params)
        self._stamp = store.stamp() if store else None
        self._revoked: dict[CaSlug, set[int]] = {slug: set() for slug in CA_PROFILES}
        self._absorb(self._index)

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        cache_dir: Path,
        seed: int,
        *,
        not_before: datetime = DEFAULT_NOT_BEFORE,
        base_url: str = DEFAULT_BASE_URL,
    ) -> TestPKI:
        """Load the PKI cached in ``cache_dir``, or build it there. A cache made with other parameters is
        replaced, since none of its content would match."""
        not_before = as_utc(not_before)
        store = CacheStore(Path(cache_dir))
        params = _params(seed, not_before, base_url)
        with store.locked():
            index = store.read_index()
            authorities = _load_authorities(store, index) if index and index.get("params") == params else None
            if authorities is None:
                if index is not None:
                    _remove_listed_files(store, index)
                authorities = _build_authorities(seed, not_before, base_url)
                index = new_index(params)
                for slug, authority in authorities.items():
                    stem = f"ca/{slug}"
                    store.write_bytes(f"{stem}.cert.pem", cert_pem(authority.certificate))
                    store.write_bytes(f"{stem}.key.pem", key_pem(authority.private_key))
                    index["cas"][slug] = {"cert": f"{stem}.cert.pem", "key": f"{stem}.key.pem"}
                store.write_index(index)
        return cls(seed, authorities, not_before=not_before, base_url=base_url, store=store, index=index)

    @classmethod
    def in_memory(
        cls, seed: int, *, not_before: datetime = DEFAULT_NOT_BEFORE, base_url: str = DEFAULT_BASE_URL
    ) -> TestPKI:
        """The same PKI without a cache: every key is searched again in each process."""
        not_before = as_utc(not_before)
        authorities = _build_authorities(seed, not_before, base_url)
        return cls(seed, authorities, not_before=not_before, base_url=base_url, store=None, index=None)

    # --- CAs and CRLs -------------------------------------------------------------------------

    @property
    def root(self) -> x509.Certificate:
        return self._authorities["racine"].certificate

    def authority(self, ca: CaSlug) -> Authority:
        return self._authorities[ca]

    def ca_chain(self) -> list[x509.Certificate]:
        """Both issuing CAs, then the root last (the order of a TLS certificate list and of a PEM bundle)."""
        return [
            self._authorities["fort-personnes"].certificate,
            self._authorities["elementaire-organisations"].certificate,
            self.root,
        ]

    def ca_chain_pem(self) -> bytes:
        return b"".join(cert_pem(c) for c in self.ca_chain())

    def crl_url(self, ca: CaSlug) -> str:
        return profiles.crl_url(self.base_url, ca)

    def revoked_serials(self, ca: CaSlug | x509.Certificate) -> frozenset[int]:
        self._refresh()
        return frozenset(self._revoked[self._slug_of(ca)])

    def crl(self, ca: CaSlug | x509.Certificate) -> bytes:
        """DER CRL of ``ca``, listing every revoked certificate issued so far under it."""
        slug = self._slug_of(ca)
        serials = self.revoked_serials(slug)
        return build_crl(self._authorities[slug], serials, self.not_before).public_bytes(serialization.Encoding.DER)

    # --- issuance -------------------------------------------------------------------------------

    def professional(
        self,
        professional: Mapping[str, Any],
        structure: Mapping[str, Any] | None = None,
        usage: Usage = "auth",
        card_type: CardType = "CPS",
        variant: Variant = "valid",
    ) -> Issued:
        """Authentication or signature certificate of a professional's card (CPS, or CPE for staff).

        ``structure`` only shapes CPE certificates (O/OU of the establishment); a CPS DN has none.
        ``variant="wrong_usage"`` swaps the key usages: a "sign" request gets an authentication profile.
        """
        spec = profiles.professional_spec(self.seed, professional, structure, usage, card_type, _variant(variant))
        return self._issue(spec)

    def organisation(
        self, structure: Mapping[str, Any], kind: OrgKind, variant: Variant = "valid"
    ) -> Issued:
        """Structure ("personne morale") software certificate: ORG AUTH_CLI / ORG SIGN for the DMP,
        INSI-AUTO / INSI-MANU for INSi mutual TLS."""
        return self._issue(profiles.organisation_spec(self.seed, structure, kind, _variant(variant)))

    def server(self, host_names: Sequence[str] = ("localhost", "127.0.0.1")) -> Issued:
        """TLS server certificate of the sandbox itself (``serve --tls``), for the given host names."""
        return self._issue(profiles.server_spec(tuple(host_names)))

    # --- verification -------------------------------------------------------------------------

    def verify_chain(self, cert: x509.Certificate, at: datetime, *, purpose: Usage | None = None) -> ChainVerdict:
        self._refresh()
        return verify_chain(
            cert,
            at,
            root=self.root,
            authorities=self._authority_certs,
            is_revoked=self._is_revoked,
            purpose=purpose,
        )

    is_signature_cert = staticmethod(is_signature_cert)
    is_auth_cert = staticmethod(is_auth_cert)

    def export(
        self,
        out_dir: Path,
        professionals: Sequence[Mapping[str, Any]],
        structures: Sequence[Mapping[str, Any]],
        **options: Any,
    ) -> Path:
        """Write the credentials bundle; see ``export.export_credentials``. Returns the index path."""
        from .export import export_credentials

        return export_credentials(self, Path(out_dir), professionals, structures, **options)

    # --- internals ----------------------------------------------------------------------------

    def _slug_of(self, ca: CaSlug | x509.Certificate) -> CaSlug:
        if isinstance(ca, x509.Certificate):
            if ca in self._slug_by_cert:
                return self._slug_by_cert[ca]
            raise ValueError(f"not a sandbox CA: {ca.subject.rfc4514_string()}")
        if ca not in self._authorities:
            raise ValueError(f"unknown CA {ca!r}; expected one of {sorted(self._authorities)}")
        return ca

    def _is_revoked(self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime) -> bool:
        slug = self._slug_of(issuer)
        return cert.serial_number in self._revoked[slug] and at >= revocation_time(self.not_before)

    def _absorb(self, index: Mapping[str, Any]) -> None:
        for entry in index.get("certs", {}).values():
            if entry.get("variant") == "revoked":
                self._revoked[entry["ca"]].add(int(entry["serial"], 16))

    def _refresh(self) -> None:
        """Pick up certificates another process issued (revocations above all) since we last looked."""
        if self._store is None:
            return
        stamp = self._store.stamp()
        if stamp == self._stamp:
            return
        with self._lock:
            index = self._store.read_index()
            self._stamp = stamp
            if index is not None and index.get("params") == self._params:
                self._index = index
                self._absorb(index)

    def _issue(self, spec: LeafSpec) -> Issued:
        with self._lock:
            issued = self._issued.get(spec.cert_label) or self._load_issued(spec)
            if issued is None:
                issued = self._create_issued(spec)
            if spec.variant == "revoked":
                self._revoked[spec.ca].add(issued.certificate.serial_number)
            self._issued[spec.cert_label] = issued
            return issued

    def _wrap(self, spec: LeafSpec, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> Issued:
        authority = self._authorities[spec.ca]
        return Issued(
            label=spec.cert_label,
            owner=spec.owner,
            usage=spec.requested_usage,
            variant=spec.variant,
            ca=spec.ca,
            certificate=cert,
            private_key=key,
            chain=(authority.certificate, self.root),
        )

    def _load_issued(self, spec: LeafSpec) -> Issued | None:
        if self._store is None:
            return None
        entry = self._index["certs"].get(spec.cert_label)
        if entry is None:
            self._refresh()
            entry = self._index["certs"].get(spec.cert_label)
        key_file = self._index["keys"].get(spec.key_label)
        if entry is None or key_file is None:
            return None
        try:
            cert = x509.load_pem_x509_certificate(self._store.read_bytes(entry["cert"]))
            key = self._keys.get(spec.key_label) or _load_key(self._store.read_bytes(key_file))
        except (FileNotFoundError, ValueError):
            return None
        if cert.subject != spec.subject or cert.public_key() != key.public_key():
            return None  # a cache edited by hand; issuing again restores the seed-derived content
        self._keys[spec.key_label] = key
        return self._wrap(spec, cert, key)

    def prefetch_keys(self, key_labels: Iterable[str], *, workers: int | None = None) -> int:
        """Search, over several processes, the keys of these labels that neither memory nor the cache
        holds; issuing then finds them ready. Returns how many were searched."""
        with self._lock:
            missing = []
            for label in dict.fromkeys(key_labels):
                key_file = self._index["keys"].get(label)
                if label in self._keys or (self._store is not None and key_file and self._store.exists(key_file)):
                    continue
                missing.append(label)
            if missing:
                self._keys.update(rsakeys.derive_private_keys(self.seed, missing, workers=workers))
            return len(missing)

    def _key(self, label: str) -> tuple[rsa.RSAPrivateKey, bool]:
        """The key of ``label`` and whether it was searched just now (and so needs writing)."""
        if label in self._keys:
            return self._keys[label], False
        if self._store is not None:
            key_file = self._index["keys"].get(label)
            if key_file is not None and self._store.exists(key_file):
                key = _load_key(self._store.read_bytes(key_file))
                self._keys[label] = key
                return key, False
        key = rsakeys.derive_private_key(self.seed, label)
        self._keys[label] = key
        return key, True

    def _create_issued(self, spec: LeafSpec) -> Issued:
        key, new_key = self._key(spec.key_label)
        cert = profiles.build_leaf(spec, key, self._authorities[spec.ca], self.seed, self.not_before, self.base_url)
        if self._store is not None:
            key_file = f"keys/{file_stem(spec.key_label)}.key.pem"
            cert_file = f"certs/{file_stem(spec.cert_label)}.cert.pem"
            if new_key or not self._store.exists(key_file):
                self._store.write_bytes(key_file, key_pem(key))
            self._store.write_bytes(cert_file, cert_pem(cert))
            entry = {
                "cert": cert_file,
                "key": spec.key_label,
                "ca": spec.ca,
                "serial": f"{cert.serial_number:x}",
                "owner": spec.owner,
                "usage": spec.requested_usage,
                "variant": spec.variant,
            }

            def record(index: dict[str, Any]) -> None:
                index["cas"] = index["cas"] or self._index["cas"]
                index["keys"][spec.key_label] = key_file
                index["certs"][spec.cert_label] = entry

            self._index = self._store.merge_index(self._params, record)
            self._stamp = self._store.stamp()
            self._absorb(self._index)
        return self._wrap(spec, cert, key)


def _variant(variant: str) -> Variant:
    if variant not in ("valid", "expired", "revoked", "wrong_usage"):
        raise ValueError(f"variant must be valid, expired, revoked or wrong_usage, not {variant!r}")
    return variant  # type: ignore[return-value]


def _params(seed: int, not_before: datetime, base_url: str) -> dict[str, Any]:
    """What the cached bytes depend on; any change invalidates the whole cache."""
    return {
        "seed": seed,
        "not_before": not_before.isoformat(),
        "base_url": base_url,
        "key_bits": rsakeys.KEY_BITS,
        "layout": derive.LAYOUT,
    }


def _build_authorities(seed: int, not_before: datetime, base_url: str) -> dict[CaSlug, Authority]:
    authorities: dict[CaSlug, Authority] = {}
    for profile in profiles.ca_profiles_in_order():
        key = rsakeys.derive_private_key(seed, f"ca|{profile.slug}")
        issuer = authorities[profile.issuer] if profile.issuer else None
        cert = profiles.build_ca(profile, key, issuer, seed, not_before, base_url)
        authorities[profile.slug] = Authority(profile, cert, key)
    return authorities


def _load_authorities(store: CacheStore, index: Mapping[str, Any]) -> dict[CaSlug, Authority] | None:
    authorities: dict[CaSlug, Authority] = {}
    try:
        for slug, profile in CA_PROFILES.items():
            files = index["cas"][slug]
            cert = x509.load_pem_x509_certificate(store.read_bytes(files["cert"]))
            key = _load_key(store.read_bytes(files["key"]))
            authorities[slug] = Authority(profile, cert, key)
    except (KeyError, FileNotFoundError, ValueError):
        return None
    return authorities


def _remove_listed_files(store: CacheStore, index: Mapping[str, Any]) -> None:
    for files in index.get("cas", {}).values():
        for relative in files.values():
            store.remove(relative)
    for relative in index.get("keys", {}).values():
        store.remove(relative)
    for entry in index.get("certs", {}).values():
        store.remove(entry["cert"])
