"""RSA keys for our actors: generation and PEM (de)serialisation.

RSA-2048 with e=65537, the Mastodon default: every fediverse server can verify it and
signing costs ~0.2 ms (docs/rules.md §14). Private keys are PKCS#8 PEM,
public keys SPKI PEM (what ``publicKeyPem`` must hold).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def load_private_pem(data: bytes, *, ours: bool = False) -> rsa.RSAPrivateKey:
    """``ours``: a key this server generated and keeps in its private keys directory.
    OpenSSL's RSA consistency check (56 ms a key, measured here, against 0.02 ms
    without) guards against crafted keys; ours are not, and a discussion's first
    delivery after a start would otherwise stall the event loop for it."""
    key = serialization.load_pem_private_key(
        data, password=None, unsafe_skip_rsa_key_validation=ours
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key
