"""Builders for the notes, activities and collections we publish (the actors are in
``actors``). Pure: values in, typed dicts out.

Every published shape is a ``TypedDict`` of ``shapes``, and every ``@context`` comes
from the table there. One builder per document we publish, kept in one module so that
they can be read side by side against docs/rules.md (hence its length, over 400 lines).

Shapes follow what Mastodon requires (docs/rules.md §3, §5, §17) and what forum servers
(Lemmy, PieFed, NodeBB) read: ``name`` on the opening post, ``audience``, ``context``
(FEP-7888).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedi_forum.activitypub import content
from fedi_forum.activitypub.shapes import (
    AS_NS,
    OBJECT_CONTEXT,
    PUBLIC,
    Activity,
    Actor,
    Collection,
    CollectionPage,
    NoteDoc,
    Tombstone,
)
from fedi_forum.activitypub.urls import Urls


def opening_note(
    urls: Urls,
    *,
    slug: str,
    domain: str,
    title: str,
    content_html: str,
    lang: str,
    published: str,
    updated: str | None,
    source_text: str | None = None,
    started_by: tuple[str, str] | None = None,
    author: str | None = None,
    audience: str | None = None,
) -> NoteDoc:
    """The discussion's opening post (seq 0): an ``Article`` (``as_article``); the
    ``Mention`` of the group makes Mastodon's reply box address the group.

    ``author``: the staff Person who opened it; without one the group itself. Forum
    servers take a post only from a Person (Lemmy, PieFed: docs/rules.md §18), so
    only an opening post with an author reaches them. ``audience``: the category it
    is filed under (the community Lemmy files it in), else the group.
    ``started_by`` (actor id, @handle): the fediverse author whose post started it
    (docs/categories.md), mentioned and cc'd so their server tells them."""
    group = urls.group(slug)
    note: NoteDoc = {
        "@context": OBJECT_CONTEXT,
        "id": urls.note(slug, 0),
        "type": "Note",
        "attributedTo": author or group,
        "content": content_html,
        "contentMap": {lang: content_html},
        "published": published,
        "url": urls.note(slug, 0),
        "to": [PUBLIC],
        "cc": [urls.followers(slug)],
        "audience": audience or group,
        "context": urls.context(slug),
        "inReplyTo": None,
        "sensitive": False,
        "tag": [{"type": "Mention", "href": group, "name": f"@{slug}@{domain}"}],
        "replies": urls.replies(slug, 0),
    }
    if started_by is not None:
        note["tag"].append({"type": "Mention", "href": started_by[0], "name": started_by[1]})
        note["cc"].append(started_by[0])
    if updated:
        note["updated"] = updated
    if source_text is not None:  # what the facilitator typed, for editing later
        note["source"] = {"content": source_text, "mediaType": "text/plain"}
    return as_article(note, title)


def as_article(note: NoteDoc, title: str) -> NoteDoc:
    """An opening post as an ``Article`` (docs/rules.md §17): ``name`` the title,
    ``summary`` a plain-text lead (what Mastodon shows with the title and link; never a
    content warning on an Article), ``content`` the text without the bold title our
    opening ``Note``s began with — so forum servers show the title once. Also turns a
    stored opening ``Note`` of an earlier version into the ``Article`` it is now."""
    body = content.without_title(note["content"], title)
    article: NoteDoc = {**note, "type": "Article", "name": title, "content": body}
    article["contentMap"] = {
        lang: content.without_title(text, title) for lang, text in note["contentMap"].items()
    }
    article["summary"] = content.summary(body)
    return article


def direct_note(
    note_id: str,
    *,
    actor: str,
    to: str,
    handle: str,
    content_html: str,
    lang: str,
    in_reply_to: str,
    published: str,
) -> NoteDoc:
    """A note of ours to one person only (Mastodon: a private mention), in reply to
    their post: a category's answer to the author of a post that asked to start a
    discussion (docs/categories.md)."""
    return {
        "@context": OBJECT_CONTEXT,
        "id": note_id,
        "type": "Note",
        "attributedTo": actor,
        "content": content_html,
        "contentMap": {lang: content_html},
        "published": published,
        "url": note_id,
        "to": [to],
        "cc": [],
        "audience": actor,
        "context": in_reply_to,  # the author's post starts the conversation
        "inReplyTo": in_reply_to,
        "sensitive": False,
        "tag": [{"type": "Mention", "href": to, "name": handle}],
    }


def create(activity_id: str, actor: str, obj: NoteDoc) -> Activity:
    activity: Activity = {
        "@context": obj.get("@context", AS_NS),
        "id": activity_id,
        "type": "Create",
        "actor": actor,
        "published": obj["published"],
        "to": obj.get("to", [PUBLIC]),
        "cc": obj.get("cc", []),
        "object": {k: v for k, v in obj.items() if k != "@context"},
    }
    if "audience" in obj:
        activity["audience"] = obj["audience"]
    return activity


def ordered_collection(
    collection_id: str,
    *,
    total: int | None,
    first: str | CollectionPage | None,
    last: str | None = None,
    items: list[Any] | None = None,
    group: str | None = None,
) -> Collection:
    """``total`` None: not counted (a replies collection, whose first page is inline).
    ``group``: the collection is a discussion's context (FEP-7888), owned by its group."""
    doc: Collection = {"@context": AS_NS, "id": collection_id, "type": "OrderedCollection"}
    if total is not None:
        doc["totalItems"] = total
    if items is not None:
        doc["orderedItems"] = items
    if first is not None:
        doc["first"] = first
    if last is not None:
        doc["last"] = last
    if group is not None:
        doc["attributedTo"] = group
        doc["audience"] = group
    return doc


def ordered_collection_page(
    page_id: str,
    *,
    part_of: str,
    items: list[Any],
    next_page: str | None,
    prev_page: str | None,
) -> CollectionPage:
    doc: CollectionPage = {
        "@context": AS_NS,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": items,
    }
    if next_page is not None:
        doc["next"] = next_page
    if prev_page is not None:
        doc["prev"] = prev_page
    return doc


def accept_follow(activity_id: str, group_id: str, follow: dict[str, Any]) -> Activity:
    """``Accept`` embedding the Follow exactly as received (Mastodon matches on it)."""
    return _reply_to_follow("Accept", activity_id, group_id, follow)


def reject_follow(activity_id: str, group_id: str, follow: dict[str, Any]) -> Activity:
    return _reply_to_follow("Reject", activity_id, group_id, follow)


def _reply_to_follow(
    kind: str, activity_id: str, group_id: str, follow: dict[str, Any]
) -> Activity:
    embedded = {k: v for k, v in follow.items() if k != "@context"}
    actor = embedded.get("actor")
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": kind,
        "actor": group_id,
        "to": [actor] if isinstance(actor, str) else [],
        "object": embedded,
    }


def announce(
    activity_id: str,
    *,
    group_id: str,
    followers: str,
    object_id: str,
    author: str | None,
    published: str,
) -> Activity:
    """The group shares a note: ``object`` is the note's id, which Mastodon fetches and
    shows as a boost (it does not understand ``Announce{Create}``, docs/rules.md §15)."""
    cc = [PUBLIC] + ([author] if author else [])
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Announce",
        "actor": group_id,
        "published": published,
        "to": [followers],
        "cc": cc,
        "audience": group_id,
        "object": object_id,
    }


def announce_activity(
    activity_id: str,
    *,
    group_id: str,
    followers: str,
    activity: Mapping[str, Any],
    published: str,
) -> Activity:
    """FEP-1b12: the group forwards the received activity itself, verbatim, so group
    servers (Lemmy, PieFed, Mbin, NodeBB, other fedi-forums) see who wrote what."""
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Announce",
        "actor": group_id,
        "published": published,
        "to": [PUBLIC],
        "cc": [followers],
        "audience": group_id,
        "object": {k: v for k, v in activity.items() if k != "@context"},
    }


def undo(activity_id: str, actor: str, followers: str, undone_id: str) -> Activity:
    """Undo one of our activities, by id (Mastodon looks the boost up by its URI)."""
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Undo",
        "actor": actor,
        "to": [followers],
        "cc": [PUBLIC],
        "object": {"id": undone_id, "type": "Announce", "actor": actor},
    }


def delete_actor(activity_id: str, actor: str, followers: str) -> Activity:
    """The group is gone (the discussion was removed)."""
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Delete",
        "actor": actor,
        "to": [PUBLIC],
        "cc": [followers],
        "object": actor,
    }


def update(activity_id: str, actor: str, obj: NoteDoc | Actor) -> Activity:
    """``Update`` of one of our objects (the opening post, or the group itself)."""
    cc = obj.get("cc")  # a note's; a group's Update goes to its followers
    copied = [str(c) for c in cc] if isinstance(cc, list) else []
    return {
        "@context": obj.get("@context", AS_NS),
        "id": activity_id,
        "type": "Update",
        "actor": actor,
        "to": [PUBLIC],
        "cc": [f"{actor}/followers"] if obj["type"] == "Group" else copied,
        "object": {k: v for k, v in obj.items() if k != "@context"},
    }


def imported_note(
    urls: Urls,
    *,
    slug: str,
    seq: int,
    domain: str,
    author_id: str,
    content_html: str,
    lang: str,
    published: str,
    title: str | None = None,
    audience: str | None = None,
) -> NoteDoc:
    """A message an archive import brought in, at our note URL and attributed to its
    author (a member Person); the opening one (seq 0) is an ``Article`` with the title,
    like ``opening_note``. Public, addressed to the group like any reply to it."""
    note = person_note(
        urls,
        note_id=urls.note(slug, seq),
        author_id=author_id,
        slug=slug,
        domain=domain,
        content_html=content_html,
        lang=lang,
        published=published,
        in_reply_to=None if seq == 0 else urls.note(slug, 0),
        audience=audience,
    )
    note["replies"] = urls.replies(slug, seq)
    return note if title is None else as_article(note, title)


def staff_note(
    urls: Urls,
    *,
    note_id: str,
    username: str,
    slug: str,
    domain: str,
    content_html: str,
    lang: str,
    published: str,
    in_reply_to: str,
    audience: str | None = None,
) -> NoteDoc:
    """A staff reply in a discussion (see ``person_note``)."""
    return person_note(
        urls,
        note_id=note_id,
        author_id=urls.staff(username),
        slug=slug,
        domain=domain,
        content_html=content_html,
        lang=lang,
        published=published,
        in_reply_to=in_reply_to,
        audience=audience,
    )


def person_note(
    urls: Urls,
    *,
    note_id: str,
    author_id: str,
    slug: str,
    domain: str,
    content_html: str,
    lang: str,
    published: str,
    in_reply_to: str | None,
    audience: str | None = None,
) -> NoteDoc:
    """A note by one of our people in a discussion: public, addressed to the group (so
    Mastodon's reply box mentions it), in reply to a note of the discussion.
    ``audience``: as for ``opening_note`` (the category, else the group)."""
    group = urls.group(slug)
    return {
        "@context": OBJECT_CONTEXT,
        "id": note_id,
        "type": "Note",
        "attributedTo": author_id,
        "content": content_html,
        "contentMap": {lang: content_html},
        "published": published,
        "url": note_id,
        "to": [PUBLIC],
        "cc": [group, urls.followers(slug)],
        "audience": audience or group,
        "context": urls.context(slug),
        "inReplyTo": in_reply_to,
        "sensitive": False,
        "tag": [{"type": "Mention", "href": group, "name": f"@{slug}@{domain}"}],
    }


# Activities whose ``object`` may itself be an activity (unwrapped to find the subject).
_WRAPPERS = frozenset(
    {
        "Announce",
        "Create",
        "Update",
        "Delete",
        "Undo",
        "Accept",
        "Reject",
        "Follow",
        "Add",
        "Remove",
    }
)


def subject_of(activity: dict[str, Any]) -> str:
    """The object an activity of ours is about, for delivery order (docs/delivery.md):
    the activities about one object (Create → Update → Delete of a note; Follow → Undo of
    a follow) reach an inbox in the order made; the rest may overtake each other.

    Unwraps nested activities (``Announce{Update{Note}}`` → the note's id); an activity
    about several things or nothing (a ``Flag``) is its own subject."""
    current = activity
    for _ in range(4):  # our documents nest at most three deep
        inner = current.get("object")
        if isinstance(inner, dict):
            kind = inner.get("type")
            if kind in _WRAPPERS and isinstance(inner.get("object"), (str, dict)):
                current = inner
                continue
            inner_id = inner.get("id")
            if isinstance(inner_id, str):
                return inner_id
        elif isinstance(inner, str):
            return inner
        break
    own = activity.get("id")
    return own if isinstance(own, str) else ""


def follow(activity_id: str, actor: str, group_id: str) -> Activity:
    """Our instance actor follows a group on another server."""
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Follow",
        "actor": actor,
        "object": group_id,
        "to": [group_id],
    }


def undo_follow(activity_id: str, actor: str, follow_id: str, group_id: str) -> Activity:
    """Our instance actor stops following: the Follow is embedded, as Mastodon, Lemmy and
    GoToSocial expect (they look it up by id and check its actor)."""
    embedded = {"id": follow_id, "type": "Follow", "actor": actor, "object": group_id}
    return {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Undo",
        "actor": actor,
        "object": embedded,
        "to": [group_id],
    }


def delete_note(activity_id: str, *, group_id: str, followers: str, note_id: str) -> Activity:
    """The group's own Delete of a message it shared (a moderator removed it, or its
    author narrowed it), sent to group servers inside an Announce (FEP-1b12)."""
    return {
        "id": activity_id,
        "type": "Delete",
        "actor": group_id,
        "to": [PUBLIC],
        "cc": [followers],
        "audience": group_id,
        "object": note_id,
    }


def flag(activity_id: str, actor: str, objects: list[str], comment: str | None) -> Activity:
    """A report forwarded to the reported authors' server, as Mastodon sends one: from
    the instance actor (the reporter stays anonymous), naming the author and notes."""
    doc: Activity = {
        "@context": AS_NS,
        "id": activity_id,
        "type": "Flag",
        "actor": actor,
        "object": objects,
    }
    if comment:
        doc["content"] = comment
    return doc


def tombstone(object_id: str, former_type: str, deleted: str) -> Tombstone:
    return {
        "@context": AS_NS,
        "id": object_id,
        "type": "Tombstone",
        "formerType": former_type,
        "deleted": deleted,
    }
