"""Starlette routes: thin adapters from HTTP to the forum and the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import NoMatchFound, Route, Router

from fedi_forum.web import (
    activitypub,
    admin,
    admin_categories,
    admin_discussions,
    admin_federation,
    admin_moderation,
    admin_people,
    archive,
    categories,
    convertors,
    feeds,
    health,
    inbox,
    interaction,
    media,
    metrics,
    moderation,
    pages,
    search,
    static_files,
    wellknown,
)


def path_for(router: Router) -> Callable[..., str]:
    """``path("admin_reply", slug=…)``: a route's path by its name, for templates and
    redirects, so that a path is written once (in ``routes``) and a renamed route fails
    at render time instead of linking to a 404.

    The route is found by its name in a dict: ``Router.url_path_for`` asks every route
    in turn, and each one that is not it raises NoMatchFound, ~1 µs apiece — 17% of a
    serving process's time while it rendered pages cold (py-spy, G3-mixed). Route names
    are unique (tests/unit/test_urls.py)."""
    named = {route.name: route for route in router.routes if isinstance(route, Route)}

    def path(name: str, /, **params: Any) -> str:
        route = named.get(name)
        if route is None:
            raise NoMatchFound(name, params)
        return str(route.url_path_for(name, **params))

    return path


def routes() -> list[Route]:
    convertors.register()  # bounded ids and closed action sets, for every route below
    # Starlette tries the routes in order, one regular expression each (~1 µs): the
    # federation's hot paths come first, so that an inbox POST or a group-actor, note or
    # WebFinger GET is not matched against the forty routes before it. The order changes
    # nothing else: no two paths match the same URL (tests/unit/test_urls.py).
    return [
        Route("/d/{slug}/inbox", inbox.inbox, methods=["POST"], name="group_inbox"),
        Route("/d/{slug}", pages.discussion, name="discussion"),
        Route("/d/{slug}/m/{seq:id}", activitypub.note, name="note"),
        Route("/.well-known/webfinger", wellknown.webfinger, name="webfinger"),
        Route("/inbox", inbox.inbox, methods=["POST"], name="instance_inbox"),
        Route("/healthz", health.healthz, name="healthz"),
        Route("/readyz", health.readyz, name="readyz"),
        Route("/metrics", metrics.metrics, name="metrics"),
        Route("/", pages.index, name="index"),
        Route("/about", pages.about, name="about"),
        Route("/terms", pages.terms, name="terms"),
        Route("/actor", activitypub.instance_actor, name="instance_actor"),
        Route("/feed.{kind:feed_kind}", feeds.instance_feed, name="instance_feed"),
        Route("/.well-known/host-meta", wellknown.host_meta, name="host_meta"),
        Route("/.well-known/nodeinfo", wellknown.nodeinfo_links, name="nodeinfo_links"),
        Route("/nodeinfo/{version}", wellknown.nodeinfo, name="nodeinfo"),
        Route("/r/{handle}", pages.remote_discussion, name="remote_discussion"),
        Route("/c/{slug}", categories.category, name="category"),
        Route("/c/{slug}/outbox", categories.outbox, name="category_outbox"),
        Route("/c/{slug}/followers", categories.followers, name="category_followers"),
        Route("/c/{slug}/featured", categories.featured, name="category_featured"),
        Route("/c/{slug}/feed.{kind:feed_kind}", categories.feed, name="category_feed"),
        Route("/c/{slug}/answers/{id:id}", categories.answer, name="category_answer"),
        # the path names no discussion: routed by what the activity is about
        Route("/c/{category}/inbox", inbox.inbox, methods=["POST"], name="category_inbox"),
        Route("/d/{slug}/outbox", activitypub.outbox, name="outbox"),
        Route("/d/{slug}/followers", activitypub.followers, name="followers"),
        Route("/d/{slug}/following", activitypub.following, name="following"),
        Route("/d/{slug}/featured", activitypub.featured, name="featured"),
        Route("/d/{slug}/context", activitypub.context, name="context"),
        Route("/d/{slug}/icon", activitypub.discussion_image, name="discussion_icon"),
        Route("/d/{slug}/header", activitypub.discussion_image, name="discussion_header"),
        Route(
            "/admin/discussions/{slug}/image",
            admin_discussions.discussion_image,
            methods=["POST"],
            name="admin_discussion_image",
        ),
        Route("/d/{slug}/feed.{kind:feed_kind}", feeds.discussion_feed, name="discussion_feed"),
        Route("/d/{slug}/m/{seq:id}/replies", activitypub.replies, name="replies"),
        Route("/d/{slug}/m/{seq:id}/activity", activitypub.note_activity, name="note_activity"),
        Route(
            "/d/{slug}/m/{seq:id}/report", moderation.report, methods=["GET", "POST"], name="report"
        ),
        Route("/staff/{username}", activitypub.staff_actor, name="staff_actor"),
        Route("/staff/{username}/notes/{note}", activitypub.staff_note, name="staff_note"),
        Route("/staff/{username}/inbox", inbox.inbox, methods=["POST"], name="staff_inbox"),
        Route("/members/{handle}", activitypub.member_actor, name="member_actor"),
        Route("/members/{handle}/inbox", inbox.inbox, methods=["POST"], name="member_inbox"),
        # An archive's files, and the links of the forum an archive came from (docs/ning.md)
        Route("/files/{path:path}", archive.archive_file, name="archive_file"),
        Route("/forum/topics/{name}", archive.old_topic, name="old_topic"),
        Route("/profiles/blogs/{name}", archive.old_topic, name="old_blog"),
        Route("/xn/detail/{name}", archive.old_item, name="old_item"),
        Route("/admin", admin.dashboard, name="admin"),
        Route("/admin/reports", admin_moderation.reports_page, name="admin_reports"),
        Route("/admin/replies", admin_moderation.replies_page, name="admin_replies"),
        Route("/admin/discussions", admin_discussions.discussions_page, name="admin_discussions"),
        Route("/admin/blocks", admin_moderation.blocks_page, name="admin_blocks_page"),
        Route("/admin/audit", admin_people.audit_page, name="admin_audit"),
        Route("/admin/staff", admin_people.staff_page, name="admin_staff"),
        Route(
            "/admin/staff/{username}/{action}",
            admin_people.staff_action,
            methods=["POST"],
            name="admin_staff_action",
        ),
        Route(
            "/admin/discussions/{slug}/reply",
            admin_discussions.staff_reply,
            methods=["GET", "POST"],
            name="admin_reply",
        ),
        Route("/admin/login", admin.login, methods=["GET", "POST"], name="admin_login"),
        Route(
            "/admin/account", admin_people.account, methods=["GET", "POST"], name="admin_account"
        ),
        Route("/admin/logout", admin.logout, methods=["POST"], name="admin_logout"),
        Route("/admin/federation", admin_federation.federation, name="admin_federation"),
        Route(
            "/admin/notes/{slug}/{seq:id}/{action:note_action}",
            admin_moderation.moderate_note,
            methods=["POST"],
            name="admin_note",
        ),
        Route(
            "/admin/reports/{id:id}/{action:report_action}",
            admin_moderation.report_state,
            methods=["POST"],
            name="admin_report",
        ),
        Route(
            "/admin/categories",
            admin_categories.categories_page,
            methods=["GET", "POST"],
            name="admin_categories",
        ),
        Route("/admin/proposals", admin_categories.proposals_page, name="admin_proposals"),
        Route(
            "/admin/proposals/{id:id}/{action}",
            admin_categories.decide,
            methods=["POST"],
            name="admin_proposal_decide",
        ),
        Route(
            "/admin/categories/{slug}/edit",
            admin_categories.category_form,
            methods=["GET", "POST"],
            name="admin_category_edit",
        ),
        Route(
            "/admin/discussions/new",
            admin_discussions.discussion_form,
            methods=["GET", "POST"],
            name="admin_discussion_new",
        ),
        Route(
            "/admin/discussions/{slug}/edit",
            admin_discussions.discussion_form,
            methods=["GET", "POST"],
            name="admin_discussion_edit",
        ),
        Route(
            "/admin/discussions/{slug}/delete",
            admin_discussions.delete_discussion,
            methods=["POST"],
            name="admin_discussion_delete",
        ),
        Route(
            "/admin/discussions/{slug}/{action:discussion_action}",
            admin_discussions.discussion_state,
            methods=["POST"],
            name="admin_discussion_state",
        ),
        Route(
            "/admin/blocks/import",
            admin_moderation.import_blocks,
            methods=["GET", "POST"],
            name="admin_blocks_import",
        ),
        Route(
            "/admin/blocks/{action:block_action}",
            admin_moderation.blocks,
            methods=["POST"],
            name="admin_blocks",
        ),
        Route(
            "/admin/instances/{host}/dialect",
            admin_federation.set_dialect,
            methods=["POST"],
            name="admin_dialect",
        ),
        Route(
            "/admin/deliveries/retry",
            admin_federation.retry_deliveries,
            methods=["POST"],
            name="admin_retry",
        ),
        Route(
            "/admin/remote/{action:remote_action}",
            admin_federation.remote_follow,
            methods=["POST"],
            name="admin_remote",
        ),
        Route("/d/{slug}/interact", interaction.interact, name="interact"),
        Route(
            "/authorize_interaction",
            interaction.authorize_interaction,
            name="authorize_interaction",
        ),
        Route("/modlog", moderation.modlog, name="modlog"),
        Route("/search", search.search_page, name="search"),
        Route("/modlog.{kind}", moderation.modlog, name="modlog_feed"),
        Route("/static/{name}", static_files.static, name="static"),
        Route("/media/{signature}", media.media, name="media"),
    ]
