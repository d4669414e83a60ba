"""What a web record may do to a model's metadata, as pure rules: never over what the user or an import set, tags
brought to what a typed tag may be, nothing at all for a model kept away from the web, and each tag, base model and
image it gave marked with its source and time until the model no longer has it as given; and what a source's answer
is read as (a pause asked for is bounded, an image's parameters are bounded)."""

from __future__ import annotations

from hikaze_mm.library.fetched import renumbered, web_summary, with_tag_marks
from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.records import MAX_TAGS
from hikaze_mm.webmeta.client import LONGEST_PAUSE_S, retry_after_seconds
from hikaze_mm.webmeta.sources import MAX_IMAGE_META, civitai

RECORD = {"source": "civitai", "description": "<p>web</p>", "trigger_words": ["w"], "page_url": "https://c/m/1",
          "nsfw_level": 1, "tags": []}


def test_an_import_that_overrides_a_fetched_field_makes_it_no_longer_the_webs() -> None:
    filled, _ = RULES.web_fill({}, RECORD, [], 1.0, False)
    assert "description" in filled["fetched"]
    imported = RULES.override(filled, {"description": "from the sidecar"})
    assert imported["description"] == "from the sidecar" and "description" not in imported["fetched"]
    again, _ = RULES.web_fill(imported, {**RECORD, "description": "<p>newer</p>"}, [], 2.0, False)
    assert again["description"] == "from the sidecar"


def test_list_and_flag_edits_make_a_field_the_users() -> None:
    filled, _ = RULES.web_fill({}, {**RECORD, "nsfw_level": 8}, [], 1.0, False)
    edited = RULES.patch(filled, {"nsfw": False}, {}, {"trigger_words": ["w"]})
    assert set(edited["user_set"]) == {"nsfw", "trigger_words"}
    again, _ = RULES.web_fill(edited, {**RECORD, "nsfw_level": 8}, [], 2.0, False)
    assert again["nsfw"] is False and again["trigger_words"] == []


def test_web_tags_are_brought_to_what_a_typed_tag_may_be() -> None:
    record = {**RECORD, "tags": ["x" * 500, "bad\u202etag", "  Style  ", "style", "ok\u0007", 3]}
    _, taken = RULES.web_fill({}, record, [], 1.0, False)
    assert taken == ["Style"]


def test_a_model_kept_away_from_the_web_takes_nothing() -> None:
    stored = {"never_fetch": True}
    meta, taken = RULES.web_fill(stored, {**RECORD, "tags": ["style"]}, [], 1.0, False)
    assert meta is stored and taken == []


def test_each_fetch_marks_the_tags_it_added_with_its_source_and_time() -> None:
    first, taken = RULES.web_fill({}, {**RECORD, "tags": ["style", "Anime"]}, ["mine"], 1.0, False)
    assert taken == ["style", "Anime"]
    assert first["fetched"]["tags"] == [{"source": "civitai", "at": 1.0, "names": ["style", "Anime"]}]
    assert "web_tags" not in first  # the names are in the marks
    # Another source later: its own mark for what it added, the first fetch's kept for what is left of its tags.
    second, taken = RULES.web_fill(first, {**RECORD, "source": "civarchive", "tags": ["anime", "ink"]},
                                   ["mine", "style", "Anime"], 2.0, False)
    assert taken == ["ink"]
    assert second["fetched"]["tags"] == [{"source": "civitai", "at": 1.0, "names": ["style", "Anime"]},
                                         {"source": "civarchive", "at": 2.0, "names": ["ink"]}]


def test_a_tag_the_model_lost_is_no_longer_marked_as_the_webs() -> None:
    filled, _ = RULES.web_fill({}, {**RECORD, "tags": ["style", "ink"]}, [], 1.0, False)
    edited = RULES.tags_edited(filled, ["style", "ink"], ["ink", "mine"])
    assert edited["fetched"]["tags"] == [{"source": "civitai", "at": 1.0, "names": ["ink"]}]
    assert edited["removed_tags"] == ["style"]
    gone = RULES.tags_edited(edited, ["ink", "mine"], ["mine"])
    assert "tags" not in gone["fetched"]
    # Put back by the user, a tag is theirs: no mark comes back with it, and a fetch does not add it again.
    back = RULES.tags_edited(gone, ["mine"], ["mine", "ink"])
    again, taken = RULES.web_fill(back, {**RECORD, "tags": ["style", "ink"]}, ["mine", "ink"], 2.0, False)
    assert taken == [] and "tags" not in again["fetched"]
    # Gone by another way (a tag renamed or deleted): the marks shown are those of the tags the model has.
    shown = with_tag_marks(filled, ["Style"])
    assert shown["fetched"]["tags"] == [{"source": "civitai", "at": 1.0, "names": ["style"]}]
    assert "fetched" not in with_tag_marks({"fetched": {"tags": filled["fetched"]["tags"]}}, [])
    # A later fetch keeps the stored marks to the tags the model has ("ink" went), and adds no more than fit under
    # its tag limit: the marks never outgrow it.
    current = ["style", *(f"user{n}" for n in range(MAX_TAGS - 2))]
    full, taken = RULES.web_fill(filled, {**RECORD, "tags": ["new1", "new2"]}, current, 3.0, False)
    assert taken == ["new1"]
    assert full["fetched"]["tags"] == [{"source": "civitai", "at": 1.0, "names": ["style"]},
                                       {"source": "civitai", "at": 3.0, "names": ["new1"]}]


def test_the_base_model_the_web_gave_is_marked_until_something_else_names_one() -> None:
    filled, _ = RULES.web_fill({}, RECORD, [], 1.0, True)
    assert filled["fetched"]["base_model"] == {"source": "civitai", "at": 1.0}
    later, _ = RULES.web_fill(filled, {**RECORD, "source": "civarchive"}, [], 2.0, False)
    assert later["fetched"]["base_model"] == {"source": "civitai", "at": 1.0}  # not filled again: mark as it was
    assert "base_model" not in RULES.web_fill({}, RECORD, [], 1.0, False)[0]["fetched"]
    # An import that overrides with a header's base model makes it the file's; one that names none leaves the mark.
    assert "base_model" not in RULES.override(filled, {"base_model": "SDXL 1.0"})["fetched"]
    assert "base_model" in RULES.override(filled, {"base_model": "unknown"})["fetched"]


def test_each_fetched_image_remembers_its_source_and_time() -> None:
    images = [{"url": "https://image.civitai.com/a.jpeg", "seq": 0, "meta": {"seed": 1}},
              {"url": "https://image.civitai.com/b.jpeg"}]  # not taken (no seq): not noted
    web = web_summary(None, {**RECORD, "images": images}, 5.0)
    assert web["images"] == [{"url": "https://image.civitai.com/a.jpeg", "seq": 0, "meta": {"seed": 1},
                              "nsfw_level": None, "width": None, "height": None, "source": "civitai", "at": 5.0}]
    later = web_summary(web, {**RECORD, "source": "civarchive",
                              "images": [{"url": "https://image.civitai.com/c.jpeg", "seq": 1}]}, 6.0)
    assert [(i["source"], i["at"]) for i in later["images"]] == [("civitai", 5.0), ("civarchive", 6.0)]
    # A row's images numbered as its model's keep where and when they came from.
    moved = renumbered({"web": {**later, "sha256": "a" * 64}}, {0: 3, 1: 4}, "a" * 64)
    assert [(i["seq"], i["source"], i["at"]) for i in moved["web"]["images"]] == [(3, "civitai", 5.0),
                                                                                 (4, "civarchive", 6.0)]


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
