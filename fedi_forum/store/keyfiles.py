"""Private keys as PEM files under the keys directory (mode 0600): the ``Keyring`` of a
single-host instance without a secret file (store/keyring.py has the other).

Keys are the identity of every local actor: losing one means remote servers no longer
trust that discussion. They live outside the database so they can be backed up (and
restricted) separately; the public halves are copied into the database for serving.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from fedi_forum.activitypub import keys
from fedi_forum.store.private import secret_dir

INSTANCE_KEY = "instance"


class KeyFiles:
    """Small local files, read at once: async only to share ``Keyring``'s shape."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, name: str) -> Path:
        # name is one of our own actor names (validated slug or INSTANCE_KEY), never remote input.
        return self.directory / f"{name}.pem"

    async def load_or_create(self, name: str) -> RSAPrivateKey:
        """Load the actor's key, generating and saving it (0600) on first use."""
        path = self.path_for(name)
        secret_dir(self.directory)  # created 0700, or made 0700
        if path.exists():
            return keys.load_private_pem(path.read_bytes(), ours=True)
        # ~65 ms of CPU that releases the GIL: in a thread, the event loop goes on (and
        # an import makes two at once on two cores: bench/ning.py)
        key = await asyncio.to_thread(keys.generate_private_key)
        # O_EXCL: two processes creating the same key at once must not both win.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return keys.load_private_pem(path.read_bytes(), ours=True)
        with os.fdopen(fd, "wb") as fh:
            fh.write(keys.private_pem(key))
        return key

    async def load(self, name: str) -> RSAPrivateKey:
        return keys.load_private_pem(self.path_for(name).read_bytes(), ours=True)

    async def load_or_create_secret(self, name: str, size: int = 32) -> bytes:
        """A random secret (e.g. for signing admin sessions), shared by every process."""
        path = self.directory / f"{name}.secret"
        if path.exists():
            return path.read_bytes()
        secret_dir(self.directory)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        secret = os.urandom(size)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
        return secret
