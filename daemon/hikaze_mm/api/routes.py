"""The HTTP API's aiohttp app: its middlewares, its route table and the page beside it. Handlers parse the
request, ask one of the daemon's parts, and shape the answer; every error is JSON `{"error": ...}`."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.errors import errors
from hikaze_mm.api.handlers import (
    comfyui,
    duplicates,
    images,
    legacy,
    lookups,
    models,
    pending,
    scan,
    session,
    usage,
    workflows,
)
from hikaze_mm.api.page import add_page_routes
from hikaze_mm.api.parts import PARTS, ApiParts
from hikaze_mm.api.security import SESSION_PATH, guard

EVENTS_PATH = "/api/events"


async def _close_streams(app: web.Application) -> None:
    app[PARTS].events.close()


def create_app(parts: ApiParts) -> web.Application:
    checked = guard(takes_form={images.upload_image}, takes_images={workflows.check_workflow})
    app = web.Application(middlewares=[errors, checked], client_max_size=1024 * 1024)
    app[PARTS] = parts
    app.router.add_get("/api/health", session.health)
    app.router.add_get("/api/status", scan.status)
    app.router.add_post(SESSION_PATH, session.start_session)
    app.router.add_get("/api/pending", pending.list_pending)
    app.router.add_get("/api/pending/{id}", pending.get_pending)
    app.router.add_post("/api/scan", scan.start_scan)
    app.router.add_get(EVENTS_PATH, scan.events)
    app.router.add_post("/api/pending/import", pending.import_pending)
    app.router.add_post("/api/pending/restore", pending.restore_pending)
    app.router.add_post("/api/pending/retry", pending.retry_pending)
    app.router.add_get("/api/pending/{id}/images/{seq}/{tier}", images.get_pending_image)
    app.router.add_get("/api/models", models.list_models)
    app.router.add_get("/api/facets", models.facets)
    app.router.add_post("/api/models/bulk", models.bulk_models)
    app.router.add_post("/api/models/{sha256}/metadata/fetch", lookups.fetch_model_metadata)
    app.router.add_post("/api/pending/{id}/metadata/fetch", lookups.fetch_pending_metadata)
    app.router.add_post("/api/metadata/fetch", lookups.fetch_metadata)
    app.router.add_get("/api/folders", models.folder_tree)
    app.router.add_post("/api/usage", usage.count_uses)
    # Before the model by its sha256, which would take `by-path` for one.
    app.router.add_get("/api/models/by-path", usage.model_by_path)
    app.router.add_get("/api/models/{sha256}", models.get_model)
    app.router.add_patch("/api/models/{sha256}", models.patch_model)
    app.router.add_delete("/api/models/{sha256}", models.delete_model)
    app.router.add_get("/api/models/{sha256}/path", models.get_model_path)
    app.router.add_get("/api/models/{sha256}/images", images.list_images)
    app.router.add_post("/api/models/{sha256}/images", images.upload_image)
    app.router.add_delete("/api/models/{sha256}/images/{seq}", images.delete_image)
    app.router.add_put("/api/models/{sha256}/cover", images.set_cover)
    app.router.add_get("/api/models/{sha256}/cover/{tier}", images.get_cover)
    app.router.add_get("/api/images/{sha256}/{seq}/{tier}", images.get_image)
    app.router.add_get("/api/duplicates", duplicates.list_duplicates)
    app.router.add_post("/api/models/{sha256}/copies/trash", duplicates.trash_copy)
    app.router.add_get("/api/types", models.list_types)
    app.router.add_get("/api/tags", models.list_tags)
    app.router.add_post("/api/tags", models.create_tag)
    app.router.add_patch("/api/tags/{id}", models.rename_tag)
    app.router.add_delete("/api/tags/{id}", models.delete_tag)
    app.router.add_post("/api/migrate/legacy", legacy.migrate_legacy)
    app.router.add_post("/api/comfyui/announce", comfyui.announce_comfyui)
    app.router.add_get("/api/picker/origin-check", comfyui.picker_origin_check)
    app.router.add_post("/api/workflows/check", workflows.check_workflow)
    add_page_routes(app, lambda: (*parts.access.allowed_origins, *parts.peers.origins()))
    app.on_shutdown.append(_close_streams)
    return app
