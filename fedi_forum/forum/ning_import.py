"""``fedi-forum import ning DIR``: a Ning network's history as discussions of ours
(docs/ning.md).

Each Ning discussion (or blog post) becomes a discussion like any other — a Group actor
with its opening post and comments as ordered messages, oldest first, with their
original dates — written by local, read-only authors (``members``: Person actors
named as ``--authors`` says; e-mail addresses, birthdates and locations are never read
into anything published). One discussion is one transaction, keyed by the Ning ids:
re-running the same or a larger archive adds only what is new, and an import cut short
resumes. Nothing is sent to anyone: an imported discussion has no followers yet, and
later additions are history, not news.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from html import escape
from pathlib import Path
from urllib.parse import quote

import orjson

from fedi_forum.activitypub import keys, vocab
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import LANGUAGES, Settings
from fedi_forum.errors import Conflict
from fedi_forum.forum import ning_archive as archive
from fedi_forum.forum.discussions import free_slug, group_key_name
from fedi_forum.forum.members import initials
from fedi_forum.forum.ning_content import file_name, ning_html
from fedi_forum.forum.notes import group_announce
from fedi_forum.models import NewNote, utcnow
from fedi_forum.store import Store
from fedi_forum.store.archive_files import ArchiveFiles, Refused
from fedi_forum.store.imports import ImportedDiscussion, ImportedNote, NewMember
from fedi_forum.store.keyring import Keyring

log = logging.getLogger(__name__)

SOURCE = "ning"
WINDOW = 4  # topics imported side by side
EMPTY_BODY = {"nl": "(zonder tekst)", "en": "(no text)"}


class AuthorNames(enum.StrEnum):
    NAMES = "names"
    INITIALS = "initials"
    ANONYMOUS = "anonymous"


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    authors: AuthorNames = AuthorNames.NAMES
    category_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    only: tuple[str, ...] = ("discussions",)
    closed: bool = False
    dry_run: bool = False
    lang: str = "nl"


@dataclasses.dataclass
class Summary:
    """What an import made (or, with --dry-run, would make), for the closing report."""

    discussions_created: int = 0
    discussions_extended: int = 0
    discussions_unchanged: int = 0
    messages_added: int = 0
    messages_existing: int = 0
    authors: int = 0
    unknown_authors: int = 0
    files_copied: int = 0
    files_missing: int = 0
    files_refused: int = 0
    empty_bodies: int = 0
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would be" if dry_run else "were"
        out = [
            f"discussions: {self.discussions_created} {verb} created, "
            f"{self.discussions_extended} extended, {self.discussions_unchanged} already complete",
            f"messages: {self.messages_added} {verb} added, "
            f"{self.messages_existing} already imported",
            f"authors: {self.authors} ({self.unknown_authors} not in the members file: "
            '"unknown member")',
            f"files: {self.files_copied} copied, {self.files_missing} missing from the archive, "
            f"{self.files_refused} refused (type or size)",
            f"empty bodies: {self.empty_bodies}",
        ]
        out += [f"skipped: {n} × {reason}" for reason, n in sorted(self.skipped.items())]
        return out


def read_category_map(path: Path) -> dict[str, str]:
    """A JSON object: Ning category (or group title) → the label to keep."""
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise archive.ArchiveError(f"cannot read the category map {path}: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise archive.ArchiveError(f"{path}: expected a JSON object of names to names")
    return value


class NingImport:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        keyring: Keyring,
        files: ArchiveFiles,
        options: Options,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.files = files
        self.options = options
        self.urls = Urls(settings.base_url)
        self.summary = Summary()
        self._handles: dict[str, str] = {}  # Ning contributorName → our handle
        self._taken: set[str] = set()  # slugs this run chose (for --dry-run's own count)
        self._files: dict[str, str | None] = {}  # archive path → its URL (None: missing)
        self._planned: set[str] = set()  # --dry-run: the Ning ids it would have imported
        self._authors_lock = asyncio.Lock()
        self._names: dict[asyncio.Task[archive.Topic], set[str]] = {}  # id and slug in flight

    async def run(
        self, directory: Path, progress: Callable[[archive.Topic], None] | None = None
    ) -> Summary:
        if not directory.is_dir():  # noqa: ASYNC240 - the import command, not the server
            raise archive.ArchiveError(f"{directory} is not a folder")
        present = [k for k in self.options.only if (directory / archive.KINDS[k]).exists()]
        if not present:
            wanted = ", ".join(archive.KINDS[k] for k in self.options.only)
            raise archive.ArchiveError(f"{directory} holds none of {wanted}: not a Ning archive?")
        self.directory = directory
        self.members = archive.read_members(directory)
        self.groups = archive.read_groups(directory)
        if not self.options.dry_run and self.members:  # --authors changed: rename them all
            await self.store.ensure_members(
                SOURCE, [self._new_member(k) for k in sorted(self.members)], utcnow(), add=False
            )
        # A few topics at once: a new discussion's key is ~65 ms of CPU in a thread, so
        # two are made at once on two cores, and their writes share group commits
        # (bench/ning.py). Topics stay read one at a time: memory is bounded. A dry run
        # makes no keys: it runs them in order.
        running: set[asyncio.Task[archive.Topic]] = set()
        try:
            for kind in self.options.only:
                for topic in archive.read_topics(directory, kind):
                    if isinstance(topic, str):
                        self.summary.skipped[topic] += 1
                        continue
                    # A topic listed twice waits for its other copy (then adds nothing),
                    # and one whose title makes the same slug for the one before it, so
                    # the file's order decides who gets the suffix, every time.
                    names = {topic.id, archive.our_slug(topic.title)}
                    while running and (
                        len(running) >= (1 if self.options.dry_run else WINDOW)
                        or any(names & self._names[t] for t in running)
                    ):
                        running = await self._settle(running, progress, asyncio.FIRST_COMPLETED)
                    task = asyncio.create_task(self._topic(topic))
                    self._names[task] = names
                    running.add(task)
            await self._settle(running, progress, asyncio.ALL_COMPLETED)
        finally:  # an error (a broken file, a failed write): let the others finish first
            if running:
                await asyncio.wait(running)
        return self.summary

    async def _settle(
        self,
        running: set[asyncio.Task[archive.Topic]],
        progress: Callable[[archive.Topic], None] | None,
        until: str,
    ) -> set[asyncio.Task[archive.Topic]]:
        done, left = await asyncio.wait(running, return_when=until)
        for task in done:
            self._names.pop(task, None)
            topic = task.result()  # raises what the topic raised
            if progress is not None:
                progress(topic)
        return left

    # -- one topic ----------------------------------------------------------------------

    async def _topic(self, topic: archive.Topic) -> archive.Topic:
        messages = [(topic.id, topic.author, topic.body, topic.created, topic.attachments)]
        messages += [(c.id, c.author, c.body, c.created, c.attachments) for c in topic.comments]
        done = await self.store.imported_ids(SOURCE, [m[0] for m in messages])
        done |= self._planned & {m[0] for m in messages}  # --dry-run: met earlier in the run
        todo = [m for m in messages if m[0] not in done]
        self.summary.messages_existing += len(messages) - len(todo)
        if not todo:
            self.summary.discussions_unchanged += 1
            return topic
        existing = await self.store.imported_slug(SOURCE, topic.id)
        if self.options.dry_run:
            self._planned |= {m[0] for m in todo}
            self._count_authors({m[1] for m in todo})
            for _, _, body, _, attachments in todo:
                self._content(body, attachments, resolve=self._probe)
            self.summary.messages_added += len(todo)
            if existing is None:
                self._taken.add(await self._free_slug(topic.title))
                self.summary.discussions_created += 1
            else:
                self.summary.discussions_extended += 1
            return topic
        handles = await self._authors({m[1] for m in todo})
        lang = self.options.lang
        notes = [
            ImportedNote(
                source_id=source_id,
                author_id=self.urls.member(handles[author]),
                content=self._content(body, attachments, resolve=self._copy),
                published=created,
            )
            for source_id, author, body, created, attachments in todo
        ]
        opening = notes[0]  # the topic itself when the discussion is new
        for attempt in range(3):
            slug = existing or await self._free_slug(topic.title)
            key = None if existing else await self.keyring.load_or_create(group_key_name(slug))
            item = ImportedDiscussion(
                source=SOURCE,
                source_id=topic.id,
                old_slug=archive.ning_slug(topic.title),
                slug=slug,
                title=topic.title,
                lang=lang,
                label=self._label(topic),
                closed=self.options.closed,
                public_key_pem=keys.public_pem(key) if key is not None else "",
                views=topic.views,
                now=utcnow(),
                opening=opening,
                messages=notes if existing else notes[1:],
            )
            try:
                result = await self.store.import_discussion(item, self._builder(topic.title))
                break
            except Conflict:  # someone took the slug meanwhile (the server runs)
                if attempt == 2:
                    raise
                self._taken.add(slug)
        if result.created:
            self.summary.discussions_created += 1
            log.info("imported %s as %s (%d messages)", topic.id, result.slug, result.added)
        elif result.added:
            self.summary.discussions_extended += 1
        else:  # the same topic listed twice, imported by its other copy meanwhile
            self.summary.discussions_unchanged += 1
        self.summary.messages_added += result.added
        self.summary.messages_existing += len(todo) - result.added
        return topic

    def _builder(self, title: str) -> Callable[[str, int, ImportedNote], tuple[NewNote, str, str]]:
        lang = self.options.lang
        domain = self.settings.domain

        def build(slug: str, seq: int, message: ImportedNote) -> tuple[NewNote, str, str]:
            body = message.content or f"<p>{EMPTY_BODY[lang]}</p>"
            doc = vocab.imported_note(
                self.urls,
                slug=slug,
                seq=seq,
                domain=domain,
                author_id=message.author_id,
                content_html=body,
                lang=lang,
                published=message.published,
                title=title if seq == 0 else None,
            )
            note = NewNote(
                ap_id=doc["id"],
                activity_id=None,
                author_id=message.author_id,
                in_reply_to=doc["inReplyTo"],
                content=doc["content"],
                summary=None,
                sensitive=False,
                lang=lang,
                url=doc["id"],
                visibility="public",
                published=message.published,
                updated=None,
                raw=orjson.dumps(doc).decode(),
                accepted_at=message.published,
                is_local=True,
            )
            out = group_announce(
                self.urls,
                slug,
                seq,
                note_id=doc["id"],
                author=message.author_id,
                published=message.published,
                create=None,
            )
            return note, out.activity_id, out.payload

        return build

    def _label(self, topic: archive.Topic) -> str:
        name = topic.category or self.groups.get(topic.group_id, "")
        return self.options.category_map.get(name, name)

    async def _free_slug(self, title: str) -> str:
        return await free_slug(self.store, title, fallback="ning", skip=self._taken)

    # -- authors ------------------------------------------------------------------------

    def _new_member(self, key: str) -> NewMember:
        member = self.members.get(key)
        if member is None:
            return NewMember(key, "", known=False)
        mode = self.options.authors
        if mode is AuthorNames.NAMES:
            return NewMember(key, member.full_name, known=True)
        if mode is AuthorNames.INITIALS:
            return NewMember(key, initials(member.full_name), known=True)
        return NewMember(key, "", known=True)

    def _count_authors(self, keys_: Iterable[str]) -> list[str]:
        new = [k for k in keys_ if k not in self._handles]
        for key in new:
            self._handles[key] = ""
            self.summary.authors += 1
            self.summary.unknown_authors += key not in self.members
        return new

    async def _authors(self, keys_: Iterable[str]) -> dict[str, str]:
        wanted = set(keys_)
        async with self._authors_lock:  # topics run side by side: no author made twice
            new = self._count_authors(wanted)
            if new:
                made = await self.store.ensure_members(
                    SOURCE, [self._new_member(k) for k in sorted(new)], utcnow()
                )
                self._handles.update(made)
        return {k: self._handles[k] for k in wanted}

    # -- bodies and files ---------------------------------------------------------------

    def _content(
        self, body: str, attachments: tuple[str, ...], resolve: Callable[[str], str | None]
    ) -> str:
        html = ning_html(body, resolve)
        links = []
        for path in attachments:
            url = resolve(path)
            if url is not None:
                links.append(f'<a href="{escape(url)}">{escape(file_name(path))}</a>')
        if links:
            html += f"<p>{' · '.join(links)}</p>"
        if not html:
            self.summary.empty_bodies += 1
        return html

    def _probe(self, ref: str) -> str | None:
        return self._file(ref, copy=False)

    def _copy(self, ref: str) -> str | None:
        return self._file(ref, copy=True)

    def _file(self, ref: str, *, copy: bool) -> str | None:
        """The URL an archive reference points to once imported (``copy``: copied now;
        else only checked, for --dry-run), or None; each file counted once."""
        path = _archive_path(ref)
        if path is None:
            return None
        if path not in self._files:
            outcome = self.files.add(self.directory / path, f"{SOURCE}/{path}", copy=copy)
            if isinstance(outcome, Refused):
                self._files[path] = None
                if outcome is Refused.MISSING:
                    self.summary.files_missing += 1
                    log.info("file not in the archive: %s", path)
                else:
                    self.summary.files_refused += 1
                    log.info("file refused (%s): %s", outcome.value, path)
            else:
                self._files[path] = self.urls.archive_file(quote(outcome))
                self.summary.files_copied += 1
        return self._files[path]


_PATH_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,150}")


def _archive_path(ref: str) -> str | None:
    """An archive reference as a safe relative path (no ``..``, no absolute path, no
    odd characters), without Ning's ``?width=…`` query. Attacker-controlled input."""
    path = ref.strip().split("?", 1)[0].split("#", 1)[0]
    parts = path.split("/")
    # each part starts with a letter or digit: no "..", no hidden file, no absolute path
    if not 1 <= len(parts) <= 6 or not all(_PATH_PART.fullmatch(p) for p in parts):
        return None
    return "/".join(parts)


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise archive.ArchiveError(f"language must be one of {LANGUAGES}")
    return lang
