"""The typed requests, read in-process: what a handler gets is clean, and a refusal names the first thing wrong in
the order the checks have always run."""

from __future__ import annotations

import re
from typing import Any

import pytest
from multidict import MultiDict

from hikaze_mm.api.errors import BadRequest
from hikaze_mm.api.model_edit import model_edit
from hikaze_mm.api.requests import ScanRequest, model_query
from hikaze_mm.config.roots import Root, RootSet
from hikaze_mm.library.service import ModelEdit
from hikaze_mm.store.interfaces import ModelQuery


def test_a_model_edit_arrives_clean():
    edit = model_edit({
        "name": "  Kept  ",
        "tags_add": ["Blue", "blue", " x "],
        "meta_json": {"trigger_words": [" a ", "a", ""], "prompts": {"positive": "p"}},
        "meta_remove": {"community_links": ["not a link"]},
        "if_unchanged": {"name": "old", "meta_json": {"prompts": {"positive": "p0"}}},
    })
    assert edit == ModelEdit(
        name="Kept", tags_add=["Blue", "x"], meta_change={"trigger_words": ["a"], "prompts": {"positive": "p"}},
        meta_remove={"community_links": ["not a link"]},
        if_unchanged={"name": "old", "meta_json.prompts.positive": "p0"})


@pytest.mark.parametrize(("body", "words"), [
    ({"nam": "x", "name": 5}, "unknown field(s) nam"),
    ({"name": 5, "tags": "x"}, "`name` must be a string"),
    ({"tags": ["a"], "tags_add": ["b"]}, "`tags` replaces the list"),
    ({"tags_add": ["A"], "tags_remove": ["a"]}, "'A' is in both `tags_add` and `tags_remove`"),
    ({"meta_json": {"notes": 1}, "meta_add": "x"}, "`meta_json.notes` must be a string"),
    ({"meta_json": {"trigger_words": []}, "meta_add": {"trigger_words": ["w"]}}, "`meta_json.trigger_words` replaces"),
    ({"meta_add": {"community_links": ["javascript:alert(1)"]}}, "not an http(s) URL"),
    ({"meta_add": {"trigger_words": ["w"]}, "if_unchanged": {"size": 1}}, "`if_unchanged` names size"),
])
def test_a_model_edit_refusal_names_the_first_problem(body: dict[str, Any], words: str):
    with pytest.raises(BadRequest, match=re.escape(words)):
        model_edit(body)


def test_model_query_reads_the_filters_and_the_page_only_when_paged():
    query = MultiDict([("tags", "a, b"), ("tags", "c"), ("status", "missing"), ("hide_nsfw", "1"), ("sort", "size"),
                       ("limit", "5")])
    assert model_query(query, paged=True) == ModelQuery(tags=["a", "b", "c"], status="missing", hide_nsfw=True,
                                                        sort="size", limit=5)
    assert model_query(query, paged=False) == ModelQuery(tags=["a", "b", "c"], status="missing", hide_nsfw=True)


def test_a_search_with_control_characters_is_refused_after_the_other_parameters():
    with pytest.raises(BadRequest, match="may not contain control characters"):
        model_query(MultiDict(q="a\x00b"), paged=True)
    with pytest.raises(BadRequest, match="`limit` must be between"):
        model_query(MultiDict(q="a\x00b", limit="5000"), paged=True)


def test_a_scan_request_names_top_level_folders_of_the_configuration():
    models, loras, other = Root("/m", None, "a"), Root("/m/loras", "loras", "b"), Root("/other", "vae", "c")
    roots = RootSet([models, loras, other])
    assert ScanRequest.from_body({}, roots).folders is None
    assert ScanRequest.from_body({"roots": ["/m/sub/../loras"]}, roots).folders == [models]
    with pytest.raises(BadRequest, match="not a configured model folder: /etc"):
        ScanRequest.from_body({"roots": ["/m/../etc"]}, roots)
