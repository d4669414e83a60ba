"""What a web record may do to a model's metadata, as pure rules: never over what the user or an import set, tags
brought to what a typed tag may be, nothing at all for a model kept away from the web; and what a source's answer
is read as (a pause asked for is bounded, an image's parameters are bounded)."""

from __future__ import annotations

from hikaze_mm.library.metadata import RULES
from hikaze_mm.webmeta.client import LONGEST_PAUSE_S, retry_after_seconds
from hikaze_mm.webmeta.sources import MAX_IMAGE_META, civitai

RECORD = {"source": "civitai", "description": "<p>web</p>", "trigger_words": ["w"], "page_url": "https://c/m/1",
          "nsfw_level": 1, "tags": []}


def test_an_import_that_overrides_a_fetched_field_makes_it_no_longer_the_webs() -> None:
    filled, _ = RULES.web_fill({}, RECORD, [], 1.0)
    assert "description" in filled["fetched"]
    imported = RULES.override(filled, {"description": "from the sidecar"})
    assert imported["description"] == "from the sidecar" and "description" not in imported["fetched"]
    again, _ = RULES.web_fill(imported, {**RECORD, "description": "<p>newer</p>"}, [], 2.0)
    assert again["description"] == "from the sidecar"


def test_list_and_flag_edits_make_a_field_the_users() -> None:
    filled, _ = RULES.web_fill({}, {**RECORD, "nsfw_level": 8}, [], 1.0)
    edited = RULES.patch(filled, {"nsfw": False}, {}, {"trigger_words": ["w"]})
    assert set(edited["user_set"]) == {"nsfw", "trigger_words"}
    again, _ = RULES.web_fill(edited, {**RECORD, "nsfw_level": 8}, [], 2.0)
    assert again["nsfw"] is False and again["trigger_words"] == []


def test_web_tags_are_brought_to_what_a_typed_tag_may_be() -> None:
    record = {**RECORD, "tags": ["x" * 500, "bad\u202etag", "  Style  ", "style", "ok\u0007", 3]}
    _, taken = RULES.web_fill({}, record, [], 1.0)
    assert taken == ["Style"]


def test_a_model_kept_away_from_the_web_takes_nothing() -> None:
    stored = {"never_fetch": True}
    meta, taken = RULES.web_fill(stored, {**RECORD, "tags": ["style"]}, [], 1.0)
    assert meta is stored and taken == []


def test_a_pause_asked_for_is_read_within_bounds() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("31536000") == LONGEST_PAUSE_S
    assert retry_after_seconds("\u00b2") is None  # a digit to Python, not a number of seconds
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None


def test_an_images_parameters_are_bounded() -> None:
    sha = "a" * 64
    big = {"prompt": "p", "comfy": "x" * (MAX_IMAGE_META + 1)}
    huge = {"prompt": "x" * (MAX_IMAGE_META + 1)}
    images = [{"url": f"https://image.civitai.com/{n}.jpeg", "meta": meta} for n, meta in enumerate((big, huge))]
    version = {"id": 1, "files": [{"hashes": {"SHA256": sha.upper()}}], "images": images}
    record = civitai(version, None, sha, None, "https://civitai.com")
    assert record.images[0].meta == {"prompt": "p"} and record.images[1].meta is None


def test_a_listed_sha256_is_kept_only_when_it_reads_as_one() -> None:
    ours, blake3 = "a" * 64, "b" * 64
    for listed, kept in (("C" * 64, "c" * 64), ("x" * 8_000_000, None), ("c" * 63, None)):
        version = {"id": 1, "files": [{"hashes": {"SHA256": listed, "BLAKE3": blake3}}]}
        record = civitai(version, None, ours, blake3, "https://civitai.com")
        assert record.confirmed_by == "blake3" and record.listed_sha256 == kept
