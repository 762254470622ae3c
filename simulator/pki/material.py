"""Issued credentials: a certificate, its private key and its issuers, with the usual serialisations."""
from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .names import CaSlug, Usage, Variant

DEFAULT_PKCS12_PASSWORD = "1234"  # same as the CPS test PIN, so there is one secret to remember


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    # Unencrypted PKCS#8: test keys of a fictitious PKI, read by servers without a passphrase.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def sha256_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Issued:
    label: str
    owner: str  # "professional" | "organisation"
    usage: Usage  # as requested; the certificate's real usage differs for variant "wrong_usage"
    variant: Variant
    ca: CaSlug
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...]  # issuing CA then root

    def cert_pem(self) -> bytes:
        return cert_pem(self.certificate)

    def key_pem(self) -> bytes:
        return key_pem(self.private_key)

    def chain_pem(self) -> bytes:
        """Leaf then issuers, the order TLS stacks expect in a certificate file."""
        return b"".join(cert_pem(c) for c in (self.certificate, *self.chain))

    @property
    def sha256(self) -> str:
        return sha256_fingerprint(self.certificate)

    def pkcs12(self, password: str | bytes = DEFAULT_PKCS12_PASSWORD, *, legacy: bool = False) -> bytes:
        """PKCS#12 with key, certificate and issuers. Not byte-stable: salts and IVs are random.

        ``legacy`` switches to 3DES + SHA-1 MAC for old Java/macOS keystores that cannot read AES PKCS#12;
        weak crypto is acceptable here because the content is fictitious.
        """
        secret = password.encode("utf-8") if isinstance(password, str) else password
        if legacy:
            encryption = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                .hmac_hash(hashes.SHA1())
                .build(secret)
            )
        else:
            encryption = serialization.BestAvailableEncryption(secret)
        name = self.certificate.subject.rfc4514_string().encode("utf-8")
        return pkcs12.serialize_key_and_certificates(name, self.private_key, self.certificate, list(self.chain), encryption)
