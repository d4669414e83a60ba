"""The library's models and tags: listing, facets, one model, its edits and removal; the tag list and its
changes."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from hikaze_mm.api.model_edit import clean_tag, model_edit
from hikaze_mm.api.params import json_body, model_id, only, tag_id
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import BulkRequest, DeleteModelRequest, folder_param, model_query
from hikaze_mm.library.bulk import FilterSelection


async def list_models(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    query = parts.folders.within(model_query(request.query, paged=True), folder_param(request.query))
    return web.json_response(await parts.library.list_models(query))


async def facets(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    query = parts.folders.within(model_query(request.query, paged=False), folder_param(request.query))
    return web.json_response(await parts.library.facets(query))


async def folder_tree(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PARTS].folders.tree(model_query(request.query, paged=False)))


async def get_model(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PARTS].library.model(model_id(request)))


async def get_model_path(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PARTS].library.model_path(model_id(request)))


async def patch_model(request: web.Request) -> web.Response:
    body = await json_body(request)
    sha256 = model_id(request)
    return web.json_response(await request.app[PARTS].library.patch(sha256, model_edit(body)))


async def delete_model(request: web.Request) -> web.Response:
    asked = DeleteModelRequest.from_body(await json_body(request))
    return web.json_response(await request.app[PARTS].library.delete(model_id(request), asked.ignore_file))


async def bulk_models(request: web.Request) -> web.Response:
    asked = BulkRequest.from_body(await json_body(request))
    parts = request.app[PARTS]
    selection = asked.selection
    if isinstance(selection, FilterSelection):
        selection = replace(selection, query=parts.folders.within(selection.query, selection.folder))
    return web.json_response(await parts.bulk.apply(asked.change, selection))


async def list_types(request: web.Request) -> web.Response:
    return web.json_response({"types": await request.app[PARTS].listings.search.model_types()})


async def list_tags(request: web.Request) -> web.Response:
    return web.json_response({"tags": await request.app[PARTS].listings.tags.list_tags()})


async def create_tag(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("name",))
    tag, created = await request.app[PARTS].library.create_tag(clean_tag(body.get("name")))
    return web.json_response(tag, status=201 if created else 200)


async def rename_tag(request: web.Request) -> web.Response:
    body = await json_body(request)
    only(body, ("name",))
    tag = tag_id(request)
    return web.json_response(await request.app[PARTS].library.rename_tag(tag, clean_tag(body.get("name"))))


async def delete_tag(request: web.Request) -> web.Response:
    tag = tag_id(request)
    await request.app[PARTS].library.delete_tag(tag)
    return web.json_response({"deleted": tag})
