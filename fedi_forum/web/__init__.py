"""Starlette routes: thin adapters from HTTP to the forum and the store."""

from __future__ import annotations

from starlette.routing import Route

from fedi_forum.web import (
    activitypub,
    admin,
    convertors,
    feeds,
    health,
    inbox,
    interaction,
    media,
    metrics,
    moderation,
    pages,
    static_files,
    wellknown,
)


def routes() -> list[Route]:
    convertors.register()  # bounded ids and closed action sets, for every route below
    return [
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/metrics", metrics.metrics),
        Route("/", pages.index),
        Route("/about", pages.about),
        Route("/terms", pages.terms),
        Route("/actor", activitypub.instance_actor),
        Route("/inbox", inbox.inbox, methods=["POST"]),
        Route("/d/{slug}/inbox", inbox.inbox, methods=["POST"]),
        Route("/feed.{kind:feed_kind}", feeds.instance_feed),
        Route("/.well-known/webfinger", wellknown.webfinger),
        Route("/.well-known/host-meta", wellknown.host_meta),
        Route("/.well-known/nodeinfo", wellknown.nodeinfo_links),
        Route("/nodeinfo/{version}", wellknown.nodeinfo),
        Route("/d/{slug}", pages.discussion),
        Route("/r/{handle}", pages.remote_discussion),
        Route("/d/{slug}/outbox", activitypub.outbox),
        Route("/d/{slug}/followers", activitypub.followers),
        Route("/d/{slug}/following", activitypub.following),
        Route("/d/{slug}/featured", activitypub.featured),
        Route("/d/{slug}/context", activitypub.context),
        Route("/d/{slug}/feed.{kind:feed_kind}", feeds.discussion_feed),
        Route("/d/{slug}/m/{seq:id}", activitypub.note),
        Route("/d/{slug}/m/{seq:id}/replies", activitypub.replies),
        Route("/d/{slug}/m/{seq:id}/activity", activitypub.note_activity),
        Route("/d/{slug}/m/{seq:id}/report", moderation.report, methods=["GET", "POST"]),
        Route("/staff/{username}", activitypub.staff_actor),
        Route("/staff/{username}/notes/{note}", activitypub.staff_note),
        Route("/staff/{username}/inbox", inbox.inbox, methods=["POST"]),
        Route("/admin", admin.dashboard),
        Route("/admin/discussions/{slug}/reply", admin.staff_reply, methods=["GET", "POST"]),
        Route("/admin/login", admin.login, methods=["GET", "POST"]),
        Route("/admin/logout", admin.logout, methods=["POST"]),
        Route("/admin/federation", admin.federation),
        Route(
            "/admin/notes/{slug}/{seq:id}/{action:note_action}",
            admin.moderate_note,
            methods=["POST"],
        ),
        Route(
            "/admin/reports/{id:id}/{action:report_action}", admin.report_state, methods=["POST"]
        ),
        Route("/admin/discussions/new", admin.discussion_form, methods=["GET", "POST"]),
        Route("/admin/discussions/{slug}/edit", admin.discussion_form, methods=["GET", "POST"]),
        Route("/admin/discussions/{slug}/delete", admin.delete_discussion, methods=["POST"]),
        Route(
            "/admin/discussions/{slug}/{action:discussion_action}",
            admin.discussion_state,
            methods=["POST"],
        ),
        Route("/admin/blocks/import", admin.import_blocks, methods=["GET", "POST"]),
        Route("/admin/blocks/{action:block_action}", admin.blocks, methods=["POST"]),
        Route("/admin/instances/{host}/dialect", admin.set_dialect, methods=["POST"]),
        Route("/admin/deliveries/retry", admin.retry_deliveries, methods=["POST"]),
        Route("/admin/remote/{action:remote_action}", admin.remote_follow, methods=["POST"]),
        Route("/d/{slug}/interact", interaction.interact),
        Route("/authorize_interaction", interaction.authorize_interaction),
        Route("/modlog", moderation.modlog),
        Route("/modlog.{kind}", moderation.modlog),
        Route("/static/{name}", static_files.static),
        Route("/media/{signature}", media.media),
    ]
