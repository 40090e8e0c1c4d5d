"""Sealing private keys with the operator's secret (FEDI_FORUM_SECRET_FILE).

When keys live in the database (required on PostgreSQL: every host reads them), a copy
of the database — a dump, a replica, a backup on someone's laptop — must not be the
discussions' identities. Each key is sealed with Fernet (AES-128-CBC + HMAC-SHA256, from
``cryptography``); the Fernet key is derived (HKDF-SHA256) from a line of the secret
file, which every host is given and the database never holds.

The secret file holds one secret per line: the first seals, every line unseals. Rotation
(docs/postgresql.md): put a new line on top on every host, restart, run
``fedi-forum keys reseal``, then drop the old line.
"""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

MIN_SECRET = 32  # characters: `openssl rand -base64 32` gives 44
_INFO = b"fedi-forum sealed keys v1"


class SecretFileError(ValueError):
    """The secret file is missing, empty, too weak, or does not open a sealed key."""


def _fernet(secret: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


class Sealer:
    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise SecretFileError("the secret file holds no secret")
        for n, secret in enumerate(secrets, 1):
            if len(secret) < MIN_SECRET:
                raise SecretFileError(
                    f"secret on line {n} is {len(secret)} characters; at least {MIN_SECRET} "
                    "(make one with: openssl rand -base64 32)"
                )
        self._fernets = MultiFernet([_fernet(s) for s in secrets])

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        try:
            text = path.read_text()
        except OSError as exc:
            raise SecretFileError(f"cannot read the secret file {path}: {exc.strerror}") from exc
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            log.warning("%s is readable by other users; it unseals every private key", path)
        lines = [line.strip() for line in text.splitlines()]
        return cls([line for line in lines if line and not line.startswith("#")])

    def seal(self, plain: bytes) -> str:
        return self._fernets.encrypt(plain).decode()

    def unseal(self, sealed: str, name: str) -> bytes:
        try:
            return self._fernets.decrypt(sealed.encode())
        except InvalidToken as exc:
            raise SecretFileError(
                f"the secret file does not open the sealed key {name!r} (was it sealed with "
                "a secret no longer in the file?)"
            ) from exc

    def reseal(self, sealed: str, name: str) -> str:
        """The same key sealed with the first secret (for rotation)."""
        try:
            return self._fernets.rotate(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SecretFileError(f"the secret file does not open the sealed key {name!r}") from exc
