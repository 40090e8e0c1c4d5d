"""Private keys kept in the database, sealed with the operator's secret file
(store/keyring.py, store/sealing.py), on both engines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError
from fedi_forum.store import Store
from fedi_forum.store.engine import Engine
from fedi_forum.store.keyfiles import KeyFiles
from fedi_forum.store.keyring import SealedKeys, keyring_for
from fedi_forum.store.sealing import Sealer, SecretFileError

OLD = "an-old-secret-of-at-least-32-characters"
NEW = "a-new-secret-also-of-at-least-32-characters"


def test_a_sealed_key_opens_with_its_secret_only() -> None:
    sealed = Sealer([OLD]).seal(b"PEM")
    assert b"PEM" not in sealed.encode()
    assert Sealer([OLD]).unseal(sealed, "k") == b"PEM"
    with pytest.raises(SecretFileError, match="does not open the sealed key 'k'"):
        Sealer([NEW]).unseal(sealed, "k")
    # rotation: the new secret on top still opens the old seal; resealed, the old may go
    rotating = Sealer([NEW, OLD])
    assert rotating.unseal(sealed, "k") == b"PEM"
    assert Sealer([NEW]).unseal(rotating.reseal(sealed, "k"), "k") == b"PEM"


def test_a_secret_file_that_cannot_protect_anything_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    with pytest.raises(SecretFileError, match="cannot read the secret file"):
        Sealer.from_file(path)
    path.write_text("# only a comment\n\n")
    with pytest.raises(SecretFileError, match="holds no secret"):
        Sealer.from_file(path)
    path.write_text("short\n")
    with pytest.raises(SecretFileError, match="line 1 is 5 characters; at least 32"):
        Sealer.from_file(path)
    path.write_text(f"# new first\n{NEW}\n{OLD}\n")
    assert Sealer.from_file(path).unseal(Sealer([OLD]).seal(b"x"), "k") == b"x"


async def test_postgresql_needs_a_secret_file_and_sqlite_keeps_files(
    db: Engine, tmp_path: Path
) -> None:
    store = Store(db)
    on_pg = Settings(database_url="postgresql://forum@db/forum", keys_dir=tmp_path)
    with pytest.raises(SecretFileError, match="set FEDI_FORUM_SECRET_FILE"):
        await keyring_for(on_pg, store)
    assert isinstance(await keyring_for(Settings(keys_dir=tmp_path), store), KeyFiles)
    (tmp_path / "secret").write_text(OLD)
    with_secret = Settings(keys_dir=tmp_path, secret_file=tmp_path / "secret")
    assert isinstance(await keyring_for(with_secret, store), SealedKeys)


async def test_every_host_signs_with_the_one_key_the_database_holds(
    db: Engine, tmp_path: Path
) -> None:
    """Hosts with keys directories of their own (empty) agree on every key at once, even
    when they make it at the same moment; the database holds no plain key."""
    store = Store(db)
    host_a, host_b = (
        SealedKeys(store, Sealer([OLD]), KeyFiles(tmp_path / name)) for name in ("a", "b")
    )
    made_a, made_b = await asyncio.gather(
        host_a.load_or_create("group-park"), host_b.load_or_create("group-park")
    )
    assert made_a.private_numbers() == made_b.private_numbers()
    fresh_host = SealedKeys(store, Sealer([OLD]), KeyFiles(tmp_path / "c"))
    assert (await fresh_host.load("group-park")).private_numbers() == made_a.private_numbers()
    secret = await host_a.load_or_create_secret("session")
    assert await fresh_host.load_or_create_secret("session") == secret
    rows = await db.fetch_all("SELECT name, sealed FROM sealed_keys")
    assert {r[0] for r in rows} == {"group-park.pem", "session.secret"}
    assert all("PRIVATE KEY" not in r[1] and secret.hex() not in r[1] for r in rows)
    assert not any((tmp_path / name).exists() for name in ("a", "b", "c"))  # no files made
    with pytest.raises(FediForumError, match=r"no private key 'group-nowhere\.pem'"):
        await fresh_host.load("group-nowhere")
    # a host given the wrong secret refuses to start rather than sign with a new key
    with pytest.raises(SecretFileError, match=r"does not open the sealed key 'group-park\.pem'"):
        await SealedKeys(store, Sealer([NEW]), KeyFiles(tmp_path / "d")).load("group-park")


async def test_a_key_file_is_taken_over_once_and_rotation_reseals_every_key(
    db: Engine, tmp_path: Path
) -> None:
    store = Store(db)
    files = KeyFiles(tmp_path / "keys")
    from_file = await files.load_or_create("group-oud")  # made before the move
    sealed = SealedKeys(store, Sealer([OLD]), files)
    assert await sealed.adopt_key_files() == ["group-oud.pem"]
    assert await sealed.adopt_key_files() == []  # once
    assert (await sealed.load("group-oud")).private_numbers() == from_file.private_numbers()
    await sealed.load_or_create("instance")
    rotating = SealedKeys(store, Sealer([NEW, OLD]), KeyFiles(tmp_path / "elsewhere"))
    assert await rotating.reseal() == 2
    after = SealedKeys(store, Sealer([NEW]), KeyFiles(tmp_path / "elsewhere"))
    assert (await after.load("group-oud")).private_numbers() == from_file.private_numbers()
    assert keys.public_pem(await after.load("instance")) == keys.public_pem(
        await sealed.load("instance")
    )
