"""Where the instance's private keys and secrets live: the ``Keyring``.

Two homes, one shape:

* ``KeyFiles`` (store/keyfiles.py): PEM files in the keys directory. The default for one
  machine on SQLite; backed up with ``fedi-forum backup``.
* ``SealedKeys``: rows of ``sealed_keys`` in the database, sealed with the operator's
  secret file (store/sealing.py). Used whenever ``FEDI_FORUM_SECRET_FILE`` is set, and
  required on PostgreSQL: a discussion created through one host must be signable by a
  worker on another at once, and a database every host reads is the one place they all
  share — a shared keys volume (NFS, a ReadWriteMany claim) is one more thing to run and
  to get wrong, and a host that did not see another's key file would silently make a
  second key for the same actor.

At start, every key file in the keys directory that the database does not hold yet is
sealed into it, so ``fedi-forum db copy`` followed by a start with a secret file keeps
every discussion's identity, and hosts without that directory have every key at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError
from fedi_forum.models import utcnow
from fedi_forum.store.keyfiles import KeyFiles
from fedi_forum.store.sealed_keys import SealedKeyStore
from fedi_forum.store.sealing import Sealer, SecretFileError

log = logging.getLogger(__name__)


class Keyring(Protocol):
    async def load_or_create(self, name: str) -> RSAPrivateKey: ...

    async def load(self, name: str) -> RSAPrivateKey: ...

    async def load_or_create_secret(self, name: str, size: int = 32) -> bytes: ...


class SealedKeys:
    def __init__(self, store: SealedKeyStore, sealer: Sealer, key_files: KeyFiles) -> None:
        self.store = store
        self.sealer = sealer
        self.key_files = key_files  # taken over from, never written to
        # Unsealed keys of this process: they never change (rotation reseals the same key).
        self._plain: dict[str, bytes] = {}

    async def _get(self, file_name: str, make: Callable[[], bytes] | None) -> bytes:
        """The plain key or secret ``file_name``, made with ``make`` (in a thread: an RSA
        key is ~65 ms of CPU that releases the GIL) when the database has none."""
        plain = self._plain.get(file_name)
        if plain is not None:
            return plain
        sealed = await self.store.sealed_key(file_name)
        if sealed is None:
            if make is None:
                raise FediForumError(f"no private key {file_name!r}")
            made = await asyncio.to_thread(make)
            sealed = await self.store.add_sealed_key(file_name, self.sealer.seal(made), utcnow())
        plain = self._plain[file_name] = self.sealer.unseal(sealed, file_name)
        return plain

    async def load_or_create(self, name: str) -> RSAPrivateKey:
        pem = await self._get(f"{name}.pem", lambda: keys.private_pem(keys.generate_private_key()))
        return keys.load_private_pem(pem, ours=True)

    async def load(self, name: str) -> RSAPrivateKey:
        return keys.load_private_pem(await self._get(f"{name}.pem", None), ours=True)

    async def load_or_create_secret(self, name: str, size: int = 32) -> bytes:
        return await self._get(f"{name}.secret", lambda: os.urandom(size))

    async def adopt_key_files(self) -> list[str]:
        """Seal every key file of the keys directory the database does not hold yet (an
        instance moving from files, e.g. after ``db copy``), all at the first start: a
        host without that directory may need any of them at once. Returns their names."""
        if not self.key_files.directory.is_dir():
            return []
        held = {name for name, _ in await self.store.sealed_keys()}
        adopted = []
        for path in sorted(self.key_files.directory.iterdir()):
            if path.suffix in (".pem", ".secret") and path.name not in held and path.is_file():
                sealed = self.sealer.seal(path.read_bytes())
                await self.store.add_sealed_key(path.name, sealed, utcnow())
                adopted.append(path.name)
        return adopted

    async def reseal(self) -> int:
        """Seal every key with the secret file's first line (rotation); return how many."""
        rows = await self.store.sealed_keys()
        await self.store.replace_sealed([(n, self.sealer.reseal(s, n)) for n, s in rows])
        return len(rows)


async def keyring_for(settings: Settings, store: SealedKeyStore) -> KeyFiles | SealedKeys:
    key_files = KeyFiles(settings.keys_dir)
    if settings.secret_file is None:
        if settings.on_postgresql:
            raise SecretFileError(
                "on PostgreSQL the private keys live in the database, sealed with a secret "
                "every host is given: set FEDI_FORUM_SECRET_FILE (or --secret-file) to a file "
                "holding one line from `openssl rand -base64 32` (docs/postgresql.md)"
            )
        return key_files
    keyring = SealedKeys(store, Sealer.from_file(settings.secret_file), key_files)
    adopted = await keyring.adopt_key_files()
    if adopted:
        log.warning(
            "sealed %d key files of %s into the database (%s); keep the directory as a "
            "backup until every host runs with the secret file",
            len(adopted),
            key_files.directory,
            ", ".join(adopted[:5]) + (" …" if len(adopted) > 5 else ""),
        )
    return keyring
