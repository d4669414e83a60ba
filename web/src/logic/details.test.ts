import { describe, expect, it } from "vitest";
import type { ModelDetail, ModelImage } from "../api/types";
import {
  addChips,
  buildPatch,
  changedFields,
  cleanLinks,
  cloneForm,
  coverSeq,
  formFromDetail,
  formProblems,
  galleryIndex,
  hasWord,
  headerRows,
  isEmptyPatch,
  isHttpUrl,
  isNewTag,
  promoteTag,
  rebase,
  suggestTags,
  withGuard,
  type DetailsForm,
} from "./details";

const SHA = "a".repeat(64);

function detail(meta: ModelDetail["meta_json"] = {}): ModelDetail {
  return {
    sha256: SHA,
    blake3: null,
    path: "/m/loras/x.safetensors",
    name: "x",
    file_name: "x.safetensors",
    type: "loras",
    base_model: "sdxl",
    size_bytes: 1,
    status: "ok",
    created_at: 0,
    updated_at: 0,
    missing_since: null,
    use_count: 0,
    last_used_at: null,
    damaged: false,
    damaged_reason: null,
    header: null,
    meta_json: meta,
    tags: ["style"],
    sidecar_tags: [],
    removed_tags: [],
    images: [],
    cover: null,
    copies: [],
    files: [],
    training_tags: [],
  };
}

function image(seq: number): ModelImage {
  const base = `/api/images/${SHA}/${seq}`;
  return { seq, width: 3, height: 4, created_at: 0, urls: { high: `${base}/high`, medium: `${base}/medium`, low: `${base}/low` } };
}

const base: DetailsForm = formFromDetail(
  detail({
    description: "d",
    notes: "n",
    community_links: ["https://a.example/1"],
    prompts: { positive: "p", negative: "q" },
    trigger_words: ["tw"],
    nsfw: false,
    legacy: { kept: true },
  }),
);

function edit(change: (f: DetailsForm) => void): DetailsForm {
  const f = cloneForm(base);
  change(f);
  return f;
}

describe("formFromDetail", () => {
  it("reads the user fields and defaults the missing ones", () => {
    expect(base).toEqual({
      name: "x",
      tags: ["style"],
      description: "d",
      notes: "n",
      communityLinks: ["https://a.example/1"],
      positive: "p",
      negative: "q",
      triggerWords: ["tw"],
      nsfw: false,
    });
    const empty = formFromDetail(detail({ trigger_words: "not a list" as unknown as string[] }));
    expect(empty).toMatchObject({ description: "", communityLinks: [], positive: "", triggerWords: [], nsfw: false });
  });

  it("copies lists, so editing the form leaves the detail alone", () => {
    const d = detail();
    formFromDetail(d).tags.push("new");
    expect(d.tags).toEqual(["style"]);
  });
});

describe("buildPatch", () => {
  it("is empty when nothing changed", () => {
    expect(buildPatch(base, cloneForm(base))).toEqual({});
    expect(isEmptyPatch(buildPatch(base, cloneForm(base)))).toBe(true);
  });

  it("sends each changed field alone", () => {
    expect(buildPatch(base, edit((f) => (f.name = "  new name ")))).toEqual({ name: "new name" });
    expect(buildPatch(base, edit((f) => (f.description = "dd")))).toEqual({ meta_json: { description: "dd" } });
    expect(buildPatch(base, edit((f) => (f.notes = "")))).toEqual({ meta_json: { notes: "" } });
    expect(buildPatch(base, edit((f) => (f.nsfw = true)))).toEqual({ meta_json: { nsfw: true } });
  });

  it("sends lists as the items added and removed, never whole", () => {
    expect(buildPatch(base, edit((f) => f.tags.push("anime")))).toEqual({ tags_add: ["anime"] });
    expect(buildPatch(base, edit((f) => (f.tags = ["anime"])))).toEqual({
      tags_add: ["anime"],
      tags_remove: ["style"],
    });
    expect(buildPatch(base, edit((f) => (f.triggerWords = [])))).toEqual({ meta_remove: { trigger_words: ["tw"] } });
    expect(buildPatch(base, edit((f) => f.triggerWords.push("a", "b")))).toEqual({
      meta_add: { trigger_words: ["a", "b"] },
    });
    expect(buildPatch(base, edit((f) => f.communityLinks.push(" https://b.example ")))).toEqual({
      meta_add: { community_links: ["https://b.example"] },
    });
    const swapped = edit((f) => {
      f.communityLinks = ["https://c.example"];
      f.triggerWords = ["tw", "new"];
    });
    expect(buildPatch(base, swapped)).toEqual({
      meta_add: { community_links: ["https://c.example"], trigger_words: ["new"] },
      meta_remove: { community_links: ["https://a.example/1"] },
    });
  });

  it("compares tags without regard to case and trigger words exactly, as the daemon does", () => {
    expect(buildPatch(base, edit((f) => (f.tags = ["STYLE"])))).toEqual({});
    expect(buildPatch(base, edit((f) => (f.triggerWords = ["TW"])))).toEqual({
      meta_add: { trigger_words: ["TW"] },
      meta_remove: { trigger_words: ["tw"] },
    });
  });

  it("two tabs' patches commute: each names only its own additions", () => {
    const tab1 = buildPatch(base, edit((f) => f.tags.push("tab1")));
    const tab2 = buildPatch(base, edit((f) => f.tags.push("tab2")));
    expect([tab1, tab2]).toEqual([{ tags_add: ["tab1"] }, { tags_add: ["tab2"] }]);
  });

  it("sends only the prompt that changed", () => {
    expect(buildPatch(base, edit((f) => (f.positive = "p2")))).toEqual({ meta_json: { prompts: { positive: "p2" } } });
    expect(buildPatch(base, edit((f) => (f.negative = "")))).toEqual({ meta_json: { prompts: { negative: "" } } });
    const both = edit((f) => {
      f.positive = "1";
      f.negative = "2";
    });
    expect(buildPatch(base, both)).toEqual({ meta_json: { prompts: { positive: "1", negative: "2" } } });
  });

  it("ignores blank link rows and whitespace around the name", () => {
    expect(buildPatch(base, edit((f) => f.communityLinks.push("", "  ")))).toEqual({});
    expect(buildPatch(base, edit((f) => (f.name = "x ")))).toEqual({});
  });

  it("sends nothing for a reordered tag list (tags are a set)", () => {
    const two = { ...base, tags: ["a", "b"] };
    expect(buildPatch(two, { ...two, tags: ["b", "a"] })).toEqual({});
  });

  it("combines top-level and meta changes", () => {
    const f = edit((x) => {
      x.name = "n2";
      x.nsfw = true;
      x.positive = "pp";
      x.tags.push("t");
      x.triggerWords = [];
    });
    expect(buildPatch(base, f)).toEqual({
      name: "n2",
      tags_add: ["t"],
      meta_json: { nsfw: true, prompts: { positive: "pp" } },
      meta_remove: { trigger_words: ["tw"] },
    });
  });
});

describe("same field saved in two tabs", () => {
  it("guards each single-valued field a save changes with the value it started from", () => {
    const f = edit((x) => {
      x.name = "n2";
      x.notes = "n2";
      x.negative = "";
      x.nsfw = true;
      x.tags.push("t");
    });
    expect(withGuard(base, buildPatch(base, f))).toEqual({
      name: "n2",
      tags_add: ["t"],
      meta_json: { notes: "n2", nsfw: true, prompts: { negative: "" } },
      if_unchanged: { name: "x", meta_json: { notes: "n", nsfw: false, prompts: { negative: "q" } } },
    });
    expect(withGuard(base, buildPatch(base, edit((x) => x.tags.push("t"))))).toEqual({ tags_add: ["t"] });
  });

  it("reads the fields a 409 names and ignores anything else", () => {
    const body = { error: "x", changed: { name: "theirs", meta_json: { nsfw: true, prompts: { positive: "p9" } } } };
    expect(changedFields(body)).toEqual([
      { field: "name", theirs: "theirs" },
      { field: "positive", theirs: "p9" },
      { field: "nsfw", theirs: true },
    ]);
    expect(changedFields({ error: "x" })).toEqual([]);
    expect(changedFields(undefined)).toEqual([]);
    expect(changedFields({ changed: { name: 3, meta_json: { notes: ["x"] } } })).toEqual([]);
  });

  it("saving over theirs sends this tab's values guarded by theirs, and drops what already matches", () => {
    const mine = edit((x) => {
      x.description = "mine";
      x.notes = "same";
    });
    const theirs = changedFields({ changed: { meta_json: { description: "theirs", notes: "same" } } });
    const over = rebase(base, theirs);
    expect(over.description).toBe("theirs");
    expect(base.description).toBe("d");
    expect(withGuard(over, buildPatch(over, mine))).toEqual({
      meta_json: { description: "mine" },
      if_unchanged: { meta_json: { description: "theirs" } },
    });
    expect(rebase(base, [{ field: "nsfw", theirs: true }]).nsfw).toBe(true);
  });
});

describe("links and problems", () => {
  it("cleans links like the daemon", () => {
    expect(cleanLinks([" https://a ", "", "https://a", "http://b"])).toEqual(["https://a", "http://b"]);
  });

  it("accepts http(s) URLs only", () => {
    expect(isHttpUrl("https://civitai.com/models/1")).toBe(true);
    expect(isHttpUrl("http://127.0.0.1:8188/")).toBe(true);
    expect(isHttpUrl("javascript:alert(1)")).toBe(false);
    expect(isHttpUrl("ftp://x")).toBe(false);
    expect(isHttpUrl("civitai.com")).toBe(false);
  });

  it("names what blocks a save", () => {
    expect(formProblems(base)).toEqual([]);
    expect(formProblems({ ...base, name: "  " })).toEqual(["nameEmpty"]);
    expect(formProblems({ ...base, communityLinks: ["", "file:///etc/passwd"] })).toEqual(["badLink"]);
  });
});

describe("chips and suggestions", () => {
  it("adds comma-separated chips without blanks or repeats", () => {
    expect(addChips(["Anime"], "anime, style ,,b，c")).toEqual(["Anime", "style", "b", "c"]);
    expect(addChips([], "   ")).toEqual([]);
  });

  it("suggests existing tags containing the text, prefix matches first, at most ten", () => {
    const all = ["character", "Anime", "realistic", "animal", "not-anime"];
    expect(suggestTags(all, "ANI", [])).toEqual(["Anime", "animal", "not-anime"]);
    expect(suggestTags(all, "ani", ["anime"])).toEqual(["animal", "not-anime"]);
    expect(suggestTags(all, " ", [])).toEqual([]);
    const many = Array.from({ length: 30 }, (_, i) => `tag${i}`);
    expect(suggestTags(many, "tag", [])).toHaveLength(10);
  });

  it("tells new tags from existing ones regardless of case", () => {
    expect(isNewTag("ANIME", ["anime"])).toBe(false);
    expect(isNewTag("fresh", ["anime"])).toBe(true);
  });
});

describe("gallery", () => {
  const images = [image(0), image(2), image(5)];

  it("finds the cover among the images", () => {
    expect(coverSeq(images, image(2).urls)).toBe(2);
    expect(coverSeq(images, null)).toBeNull();
    expect(coverSeq(images, image(9).urls)).toBeNull();
  });

  it("stays on the shown image, else clamps its place to the list", () => {
    expect(galleryIndex(images, 5, 0)).toBe(2);
    expect(galleryIndex(images, 2, 0)).toBe(1);
    expect(galleryIndex(images, null, 1)).toBe(1);
    expect(galleryIndex([image(0), image(2)], 5, 2)).toBe(1);
    expect(galleryIndex([], 5, 2)).toBe(0);
  });
});

describe("formatting", () => {
  it("lists the header with nested values as JSON", () => {
    expect(headerRows(null)).toEqual([]);
    expect(headerRows({ format: "safetensors", __metadata__: { a: "1" }, n: 3 })).toEqual([
      ["format", "safetensors"],
      ["__metadata__", '{"a":"1"}'],
      ["n", "3"],
    ]);
  });
});

describe("training tags made trigger words", () => {
  it("appends the tag whole, once, whatever its case", () => {
    expect(promoteTag(["mychar"], " blue hair ")).toEqual(["mychar", "blue hair"]);
    expect(promoteTag(["mychar"], "MyChar")).toEqual(["mychar"]);
    expect(promoteTag([], "red hair, blue eyes")).toEqual(["red hair, blue eyes"]);
    expect(promoteTag(["a"], "  ")).toEqual(["a"]);
  });

  it("knows a tag that is a trigger word already", () => {
    expect(hasWord(["Blue Hair"], "blue hair")).toBe(true);
    expect(hasWord(["blue"], "blue hair")).toBe(false);
  });
});
