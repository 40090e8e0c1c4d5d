"""Starting a discussion from the fediverse (docs/categories.md): a public post that
mentions a category (or the forum-wide actor) and replies to nothing becomes a new
discussion there — at once, after a moderator's approval, or not at all, by the
category's posting rule — and its author is answered either way."""

from __future__ import annotations

import logging
from datetime import timedelta

import orjson

from fedi_forum.activitypub import content, parse, vocab
from fedi_forum.activitypub.parse import IncomingNote
from fedi_forum.activitypub.sanitize import clean_html
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import LANGUAGES, Settings
from fedi_forum.errors import Conflict, NotFound
from fedi_forum.forum.discussions import MAX_TITLE, Discussions, StartedBy, free_slug
from fedi_forum.models import (
    Category,
    CategoryPosting,
    Discussion,
    Proposal,
    ProposalState,
    RemoteActor,
    parse_time,
    utcnow,
)
from fedi_forum.store import Outgoing, Store
from fedi_forum.store.proposals import NewProposal

log = logging.getLogger(__name__)

MAX_WAITING = 3  # proposals of one author waiting for a moderator
MAX_PER_HOST_DAY = 20  # proposals from one server in 24 hours
MAX_CONTENT = 20_000  # characters of sanitised HTML kept

ANSWERS = {
    "nl": {
        "approved": "Je discussie is geopend: {url} — volg {handle} om de reacties te krijgen.",
        "closed": "Deze categorie neemt geen nieuwe discussies van de fediverse aan; je "
        "bericht is niet gepubliceerd.",
        "refused": "Een moderator heeft je bericht niet als nieuwe discussie geopend. Zie de "
        "gebruiksvoorwaarden: {terms}",
    },
    "en": {
        "approved": "Your discussion is open: {url} — follow {handle} to get the replies.",
        "closed": "This category does not take new discussions from the fediverse; your "
        "post was not published.",
        "refused": "A moderator did not open your post as a new discussion. See the terms "
        "of use: {terms}",
    },
}


class Proposals:
    def __init__(self, settings: Settings, store: Store, discussions: Discussions) -> None:
        self.settings = settings
        self.store = store
        self.discussions = discussions
        self.urls = Urls(settings.base_url)

    def addressed(self, note: IncomingNote) -> str | None:
        """The slug of the category a post addresses (``to``/``cc``/``audience`` or a
        ``Mention``), if any. Attacker-controlled: only exact actor URLs count."""
        for address in note.addresses:
            ref = self.urls.parse(address)
            if ref is not None and ref.slug and address == self.urls.category(ref.slug):
                return ref.slug
        return None

    async def receive(
        self, slug: str, note: IncomingNote, author: RemoteActor, activity_id: str
    ) -> str:
        """A post asking to start a discussion in category ``slug``: the outcome, in
        words, for the inbox's log."""
        category = await self.store.category(slug)
        if category is None:
            return "ignored: no such category"
        # Only what anyone may read starts a public discussion: never a followers-only
        # or direct post, and never an unlisted one (its author kept it out of view).
        if note.visibility != "public" or note.in_reply_to is not None:
            return "ignored: not a public post that starts something"
        title, text = content.split_title(
            clean_html(note.content), note.name, self.urls.category(slug), MAX_TITLE
        )
        text += parse.attachments_html(note.attachments)  # as links, as in replies
        if not title:
            return "ignored: no text"
        lang = note.lang if note.lang in LANGUAGES else category.lang
        now = utcnow()
        day_ago = (parse_time(now) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
        proposal = await self.store.add_proposal(
            NewProposal(
                category_id=category.id,
                note_ap_id=note.id,
                activity_id=activity_id,
                author=author,
                title=title,
                content=clean_html(text)[:MAX_CONTENT],
                lang=lang,
                now=now,
            ),
            max_waiting=MAX_WAITING,
            max_per_host_day=MAX_PER_HOST_DAY,
            day_ago=day_ago,
        )
        if proposal is None:
            return "ignored: duplicate, or too many from this author or server"
        if proposal.state is not ProposalState.HELD:
            return f"ignored: already {proposal.state}"
        if category.posting is CategoryPosting.OPEN:
            d = await self.approve(proposal.id)
            return f"accepted: discussion {d.slug} started"
        if category.posting is CategoryPosting.CLOSED:
            proposal, category = await self._claim(proposal.id, ProposalState.REFUSED)
            await self._refuse(proposal, category, "closed")
            return "refused: the category takes no new discussions"
        return "accepted: held for a moderator"

    async def approve(self, proposal_id: int, *, moderator: str | None = None) -> Discussion:
        """Open the discussion a proposal asks for, and tell its author where it is.
        The moderator who opens it is the opening post's author (posted for the
        fediverse author it names); opened by the category's rule, the group is."""
        proposal, category = await self._claim(proposal_id, ProposalState.APPROVED)
        author = await self.store.actor(proposal.author_id)
        handle, profile = _who(proposal, author)
        try:
            slug = await free_slug(self.store, proposal.title, fallback="discussie")
            d = await self.discussions.create(
                slug=slug,
                title=proposal.title,
                body=content.html_to_text(proposal.content) or proposal.title,
                lang=proposal.lang,
                category=None if category.is_forum else category.slug,
                started_by=StartedBy(proposal.author_id, handle, profile, proposal.content),
                author=moderator,
            )
        except BaseException:
            # nothing was opened: it waits again
            await self.store.move_proposal(
                proposal.id, ProposalState.HELD, expected=ProposalState.APPROVED, now=utcnow()
            )
            raise
        text = ANSWERS[self._lang(proposal)]["approved"].format(
            url=self.urls.group(d.slug), handle=f"@{d.slug}@{self.settings.domain}"
        )
        await self._answer(proposal, category, text, d.id, author)
        log.info("proposal %d opened discussion %s", proposal.id, d.slug)
        return d

    async def refuse(self, proposal_id: int) -> None:
        """A moderator's no: the author is told, politely, and pointed at the terms."""
        proposal, category = await self._claim(proposal_id, ProposalState.REFUSED)
        await self._refuse(proposal, category, "refused")

    async def _refuse(self, proposal: Proposal, category: Category, why: str) -> None:
        text = ANSWERS[self._lang(proposal)][why].format(terms=f"{self.urls.base}/terms")
        author = await self.store.actor(proposal.author_id)
        await self._answer(proposal, category, text, None, author)

    async def _claim(self, proposal_id: int, to: ProposalState) -> tuple[Proposal, Category]:
        """The waiting proposal, moved to ``to`` before anything is done about it."""
        proposal = await self.store.proposal(proposal_id)
        if proposal is None:
            raise NotFound(f"no proposal {proposal_id}")
        category = await self.store.category_by_id(proposal.category_id)
        if category is None:  # categories are not deleted; a broken row is a 404
            raise NotFound(f"no category {proposal.category_id}")
        moved = await self.store.move_proposal(
            proposal.id, to, expected=ProposalState.HELD, now=utcnow()
        )
        if not moved:
            raise Conflict(
                f"proposal {proposal_id} was decided already",
                public_message="this proposal was decided already",
            )
        return proposal, category

    def _lang(self, proposal: Proposal) -> str:
        return proposal.lang if proposal.lang in ANSWERS else "en"

    async def _answer(
        self,
        proposal: Proposal,
        category: Category,
        text: str,
        discussion_id: int | None,
        author: RemoteActor | None,
    ) -> None:
        """The category's direct reply to the author's post, queued with the record of
        what became of it."""
        actor = self.urls.category(category.slug)
        handle, profile = _who(proposal, author)
        note_id = self.urls.category_note(category.slug, proposal.id)
        now = utcnow()
        # one paragraph: the mention, then the text (linked, escaped)
        said = content.with_leading_mention(content.plain_text_to_html(text), profile, handle)
        note = vocab.direct_note(
            note_id,
            actor=actor,
            to=proposal.author_id,
            handle=handle,
            content_html=said,
            lang=self._lang(proposal),
            in_reply_to=proposal.note_ap_id,
            published=now,
        )
        create = vocab.create(f"{note_id}/activity", actor, note)
        await self.store.answer_proposal(
            proposal.id,
            discussion_id=discussion_id,
            answer=Outgoing(create["id"], orjson.dumps(create).decode(), actor),
            answer_doc=orjson.dumps(note).decode(),
            inbox=(author.shared_inbox or author.inbox) if author is not None else None,
            now=now,
        )


def _who(proposal: Proposal, author: RemoteActor | None) -> tuple[str, str]:
    """(@handle, profile URL) of a proposal's author, as far as we know them."""
    if author is None or not author.preferred_username:
        return proposal.author_id, proposal.author_id
    return f"@{author.preferred_username}@{author.host}", author.url or author.id
