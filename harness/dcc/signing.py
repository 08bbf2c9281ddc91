"""The S1SP's signing identity: an ECDSA P-256 test key and its self-signed certificate.

DUIS requires a SMETS1 Service Response to reach the user as a
``SMETS1SignedResponse`` carrying an XML signature by the S1SP (and an
``S1SPAlert`` too). s1bench holds no DCC key, so it signs with a *test*
identity of its own. A user's DUIS adaptor can then run its real signature
check against emulated installations, given the certificate that
:meth:`S1spSigner.write_certificate` writes.

The key is derived from a seed, so a seeded run produces the same bytes every
time. ECDSA normally draws a random nonce for each signature, which would
make every run's signed responses differ. Signing here uses RFC 6979
deterministic nonces (``cryptography``'s ``deterministic_signing``), so the
same input gives the same signature. Verification is unchanged by this.

Canonicalisation and signature construction are signxml's: enveloped
signatures, ``ecdsa-sha256`` over exclusive C14N, the certificate in
``KeyInfo``. Exclusive C14N matters because a signed element is later embedded
in an outer document (``sr:Response``). Its canonical form must not pick up
the outer document's namespace declarations.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import (
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
    methods,
)
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)

__all__ = [
    "CERTIFICATE_CN",
    "DS_NS",
    "EXC_C14N",
    "S1spSigner",
    "SignatureInvalid",
    "signature_placeholder",
    "verify",
]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
CERTIFICATE_CN = "s1bench S1SP (emulated, not a DCC key)"

# The order n of the P-256 base point (SEC 2 / FIPS 186-4): a private scalar lies in 1..n-1.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Fixed so the certificate, and every document carrying it, is the same on every run.
# 9999-12-31T23:59:59Z is RFC 5280's "no well-defined expiration date". signxml
# checks validity at verification time, so a window that ends would make old
# test records fail to verify.
_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
_SIGNATURE = f"{{{DS_NS}}}Signature"


class SignatureInvalid(ValueError):
    """A signed element that does not verify. The message says which check failed."""


class _DeterministicKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key that signs with RFC 6979 nonces and cannot be exported.

    signxml calls ``key.sign(data, ec.ECDSA(hash))`` with a random nonce, and
    it has no option to change that. Wrapping the key is the one place to
    switch it to deterministic signing. Export is refused so the test key can
    only sign. It never ends up in a file or a log, even though it is a test
    key.
    """

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if isinstance(signature_algorithm, ec.ECDSA):
            signature_algorithm = ec.ECDSA(
                signature_algorithm.algorithm, deterministic_signing=True
            )
        return self._key.sign(data, signature_algorithm)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        return self._key.exchange(algorithm, peer_public_key)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._key.curve

    @property
    def key_size(self) -> int:
        return self._key.key_size

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise TypeError("the S1SP test key signs only; it is not exportable")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise TypeError("the S1SP test key signs only; it is not exportable")

    def __copy__(self) -> _DeterministicKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _DeterministicKey:
        return self

    def __repr__(self) -> str:
        return "<S1SP test key (not shown)>"


def _derive_key(seed: int | str) -> ec.EllipticCurvePrivateKey:
    digest = hashlib.sha256(f"s1bench-s1sp:{seed}".encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _self_signed(key: _DeterministicKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_CN)])
    public = key.public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # A serial from the public key: it is unique per identity, and the seed is not exposed.
    serial = int.from_bytes(hashlib.sha256(spki).digest()[:16], "big") >> 1 or 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )


def signature_placeholder() -> etree._Element:
    """An empty ``ds:Signature`` that marks where :meth:`S1spSigner.sign` puts the signature.

    Put it in as the element's last child *before* indenting the element. The
    signed layout then keeps the indentation, and the signature lands in the
    position the schema wants.
    """
    return etree.Element(_SIGNATURE, {"Id": "placeholder"}, nsmap={"ds": DS_NS})


def _element_children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


class S1spSigner:
    """The S1SP's signing identity for one seed. **A test identity, not a DCC key.**

    The private key is ``sha256("s1bench-s1sp:<seed>")`` reduced into
    P-256's scalar range, so anyone who knows the seed can rebuild it. That
    is what makes runs reproducible, and it is also why the identity must
    never be trusted outside s1bench. Its certificate is self-signed, with
    subject CN ``s1bench S1SP (emulated, not a DCC key)`` and a fixed
    validity window. The object keeps neither the seed nor an exportable key,
    and its ``repr`` shows only the certificate's fingerprint.
    """

    __slots__ = ("_certificate", "_key")

    def __init__(self, seed: int | str = 0) -> None:
        self._key = _DeterministicKey(_derive_key(seed))
        self._certificate = _self_signed(self._key)

    def __repr__(self) -> str:
        return f"S1spSigner(CN={CERTIFICATE_CN!r}, sha256={self.fingerprint})"

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate as hex. A user can compare it with the certificate file."""
        return self._certificate.fingerprint(hashes.SHA256()).hex().upper()

    def certificate_pem(self) -> bytes:
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    def write_certificate(self, path: str | Path) -> Path:
        """Write the certificate (PEM, certificate only) for a DUIS adaptor to trust; mode 0644.

        The file is written to a temporary name and then renamed, so a reader
        never sees a half-written certificate.
        """
        target = Path(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.certificate_pem())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def sign(self, element: etree._Element) -> etree._Element:
        """Sign ``element`` as its own root (enveloped) and return a signed copy.

        The input is left as it is. The ``ds:Signature`` ends up as the copy's
        last element child, where both DUIS types that carry one
        (``SMETS1SignedResponse``, ``S1SPAlert``) require it. signxml appends
        it there by default, or fills in a :func:`signature_placeholder` that
        is already the last child. Serialize the result without
        ``pretty_print``: whitespace inside the element is signed content.
        """
        existing = [c for c in _element_children(element) if c.tag == _SIGNATURE]
        placeholders = [c for c in existing if c.get("Id") == "placeholder"]
        if len(existing) != len(placeholders):
            raise ValueError(f"<{etree.QName(element).localname}> is already signed")
        if placeholders and _element_children(element)[-1] is not placeholders[0]:
            raise ValueError("the ds:Signature placeholder must be the element's last child")
        signer = XMLSigner(
            method=methods.enveloped,
            signature_algorithm="ecdsa-sha256",
            digest_algorithm="sha256",
            c14n_algorithm=EXC_C14N,
        )
        signed = signer.sign(element, key=self._key, cert=[self._certificate])
        children = _element_children(signed)
        if not children or children[-1].tag != _SIGNATURE:
            raise RuntimeError("signxml did not place ds:Signature as the last child")
        return signed


_VERIFY_CONFIG = SignatureConfiguration(
    # The signature must be a direct child of the signed element. A signature
    # found deeper down could vouch for a different subtree (signature wrapping).
    location="./",
    signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
)


def _load_certificate(certificate_pem: bytes | str) -> x509.Certificate:
    data = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise SignatureInvalid(
            f"the given certificate is not a PEM X.509 certificate: {exc}"
        ) from None


def verify(signed: etree._Element | bytes, certificate_pem: bytes | str) -> etree._Element:
    """Check an enveloped S1SP signature against ``certificate_pem`` and return what it covers.

    ``signed`` is the signed element, or a document whose root is that
    element. Only the given certificate is trusted. The certificate in the
    signature's ``KeyInfo`` is ignored, because whoever altered a document
    could also replace it. The return value is signxml's view of the signed
    content (signature removed). Read data from it, not from the input, so
    that nothing outside the signature can slip in. Raises
    :class:`SignatureInvalid` naming the failed check.
    """
    certificate = _load_certificate(certificate_pem)
    # Every seed's certificate has the same CN; the fingerprint tells them apart.
    cn = certificate.subject.rfc4514_string()
    named = f"{cn!r} (sha256 {certificate.fingerprint(hashes.SHA256()).hex().upper()[:16]}…)"
    what = "the document" if isinstance(signed, bytes) else f"<{etree.QName(signed).localname}>"
    try:
        result = XMLVerifier().verify(signed, x509_cert=certificate, expect_config=_VERIFY_CONFIG)
    except InvalidDigest as exc:
        raise SignatureInvalid(
            f"digest mismatch: the content of {what} was changed after it was signed ({exc})"
        ) from None
    except InvalidCertificate as exc:
        raise SignatureInvalid(f"certificate {named} not acceptable: {exc}") from None
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"the signature of {what} does not verify with certificate {named}: signed by "
            f"another key, or its SignedInfo was changed ({exc})"
        ) from None
    except (InvalidInput, SignXMLException, etree.LxmlError) as exc:
        raise SignatureInvalid(f"{what} has no verifiable S1SP signature: {exc}") from None
    verified = result.signed_xml
    if verified is None:  # pragma: no cover - signxml always sets it for XML references
        raise SignatureInvalid(f"{what}: signxml returned no signed content")
    return verified
