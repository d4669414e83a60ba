import { describe, expect, it } from "vitest";
import type { LookupAnswer, Meta, ModelFilter } from "../api/types";
import { EMPTY, type BulkSelection } from "./bulk";
import {
  IDLE,
  MAX_QUEUED_PENDING,
  MAX_QUEUED_SHAS,
  baseModelMark,
  fetchOutcome,
  fetchedMarks,
  generationParams,
  imageMarks,
  nothingNew,
  progressShown,
  progressTotal,
  queuePending,
  queueSelection,
  sourceName,
  tagMarks,
  webInfo,
} from "./webmeta";

const FILTER: ModelFilter = {
  q: "naut",
  type: "loras",
  base_model: "",
  tags: [],
  exclude_tags: [],
  favorite: false,
  status: "ok",
  hide_nsfw: true,
};

function sha(i: number): string {
  return i.toString(16).padStart(64, "0");
}

function answer(over: Partial<LookupAnswer>): LookupAnswer {
  return {
    state: "found",
    source: "civitai",
    checked_at: 1_700_000_000,
    remembered: false,
    notes: [],
    record: {},
    changed: { fields: [], tags: [], images: 0 },
    ...over,
  };
}

describe("where fetched fields came from", () => {
  it("names each filled field's source and time, and leaves out what is malformed or unknown", () => {
    const meta: Meta = {
      fetched: {
        description: { source: "civitai", at: 1_700_000_000 },
        trigger_words: { source: "civarchive", at: 1_700_000_500 },
        nsfw: { source: "civitai" },
        notes: { source: "civitai", at: 1 },
        community_links: "nonsense",
      } as unknown as Meta["fetched"],
    };
    expect(fetchedMarks(meta)).toEqual({
      description: { source: "civitai", at: 1_700_000_000 },
      trigger_words: { source: "civarchive", at: 1_700_000_500 },
    });
    expect(fetchedMarks({})).toEqual({});
    expect(fetchedMarks(null)).toEqual({});
  });

  it("marks the base model a fetch gave, and nothing when the mark is gone or malformed", () => {
    const fetched = { base_model: { source: "civarchive", at: 1_700_000_000 } } as unknown as Meta["fetched"];
    expect(baseModelMark({ fetched })).toEqual({ source: "civarchive", at: 1_700_000_000 });
    expect(baseModelMark({ fetched: { description: { source: "civitai", at: 1 } } })).toBeNull();
    expect(baseModelMark({ fetched: { base_model: { source: "civitai" } } })).toBeNull();
    expect(baseModelMark(null)).toBeNull();
  });

  it("marks each fetched tag, by its name in lower case, with the fetch that added it", () => {
    const meta = {
      fetched: {
        tags: [
          { source: "civitai", at: 100, names: ["Style", "ink"] },
          { source: "civarchive", at: 200, names: ["style", "clouds", 7] },
          { source: "civitai", names: ["lost"] },
          "nonsense",
        ],
      },
    } as unknown as Meta;
    expect([...tagMarks(meta)]).toEqual([
      ["style", { source: "civitai", at: 100 }],
      ["ink", { source: "civitai", at: 100 }],
      ["clouds", { source: "civarchive", at: 200 }],
    ]);
    expect(tagMarks({ fetched: { tags: "x" } } as unknown as Meta).size).toBe(0);
    expect(tagMarks(undefined).size).toBe(0);
  });

  it("marks each fetched image, by its number, with where and when it came from", () => {
    const meta: Meta = {
      web: {
        images: [
          { seq: 2, url: "https://image.civitai.com/a.jpeg", source: "civitai", at: 100 },
          { seq: 5, url: "https://image.civitai.com/b.jpeg" },
          { seq: null, url: "https://image.civitai.com/c.jpeg", source: "civitai", at: 100 },
          { seq: 1.5, source: "civitai", at: 100 },
          { seq: 7, source: "civarchive", at: Number.NaN },
        ],
      },
    };
    expect([...imageMarks(meta)]).toEqual([[2, { source: "civitai", at: 100 }]]);
    expect(imageMarks({ web: { images: {} } }).size).toBe(0);
  });

  it("writes the sources' names as they do, an unknown one as given", () => {
    expect([sourceName("civitai"), sourceName("civarchive"), sourceName("other"), sourceName(3)]).toEqual([
      "Civitai",
      "CivArchive",
      "other",
      "",
    ]);
  });
});

describe("what the web said of the model", () => {
  it("reads the names, page, base model and warnings, as text", () => {
    const meta: Meta = {
      web: {
        source: "civarchive",
        model_name: "<b>Nimbus</b>",
        version_name: "v1",
        page_url: "https://civarchive.example/models/1?modelVersionId=2",
        base_model: "SDXL 1.0",
        deleted: true,
        listed_sha256: "ab".repeat(32),
        checked_at: 1_700_000_000,
      },
    };
    expect(webInfo(meta)).toEqual({
      source: "civarchive",
      modelName: "<b>Nimbus</b>",
      versionName: "v1",
      pageUrl: "https://civarchive.example/models/1?modelVersionId=2",
      baseModel: "SDXL 1.0",
      deleted: true,
      listedSha256: "ab".repeat(32),
      checkedAt: 1_700_000_000,
    });
  });

  it("links nowhere but to an http(s) page, and takes values of the wrong type for absent", () => {
    const info = webInfo({ web: { page_url: "javascript:alert(1)", model_name: 5, deleted: "yes", listed_sha256: null } });
    expect(info).toMatchObject({ pageUrl: null, modelName: "", deleted: false, listedSha256: null, checkedAt: null });
    expect(webInfo({})).toBeNull();
    expect(webInfo({ web: [] as unknown as Record<string, unknown> })).toBeNull();
  });
});

describe("generation parameters of fetched images", () => {
  it("lists the known parameters of each image by its number, in order, skipping absent and odd values", () => {
    const meta: Meta = {
      web: {
        images: [
          {
            seq: 3,
            meta: {
              Size: "640x960",
              cfgScale: 5.5,
              sampler: "Euler a",
              steps: 28,
              seed: 1_000_004,
              negativePrompt: "lowres",
              prompt: "masterpiece, <lora:x:0.8>",
              hashes: { model: "A1" },
            },
          },
          { seq: 4, meta: { negative_prompt: "bad", cfg_scale: 7, seed: { evil: true }, steps: Infinity } },
          { seq: 5, meta: null },
          { seq: "6", meta: { prompt: "not numbered" } },
          { seq: 7, meta: { prompt: "   " } },
          "junk",
        ],
      },
    };
    const params = generationParams(meta);
    expect([...params.keys()]).toEqual([3, 4]);
    expect(params.get(3)).toEqual([
      { key: "prompt", value: "masterpiece, <lora:x:0.8>" },
      { key: "negative", value: "lowres" },
      { key: "seed", value: "1000004" },
      { key: "steps", value: "28" },
      { key: "sampler", value: "Euler a" },
      { key: "cfg", value: "5.5" },
      { key: "size", value: "640x960" },
    ]);
    expect(params.get(4)).toEqual([
      { key: "negative", value: "bad" },
      { key: "cfg", value: "7" },
    ]);
    expect(generationParams({}).size).toBe(0);
    expect(generationParams({ web: { images: "none" } }).size).toBe(0);
  });
});

describe("what a fetch did", () => {
  it("names the fields filled in the details' order, and counts tags and images", () => {
    const outcome = fetchOutcome(
      answer({ changed: { fields: ["trigger_words", "description", "community_links"], tags: ["a", "b"], images: 2 } }),
    );
    expect(outcome).toEqual({
      kind: "found",
      source: "civitai",
      fields: ["description", "community_links", "trigger_words"],
      tags: 2,
      images: 2,
    });
    expect(nothingNew(outcome)).toBe(false);
    expect(nothingNew(fetchOutcome(answer({})))).toBe(true);
  });

  it("says not found, and whether that was remembered", () => {
    const outcome = fetchOutcome(
      answer({ state: "not_found", source: null, remembered: true, changed: null, record: null }),
    );
    expect(outcome).toEqual({ kind: "not_found", remembered: true, checkedAt: 1_700_000_000 });
    expect(nothingNew(outcome)).toBe(false);
  });
});

describe("the lookups' progress", () => {
  it("is shown while they run or some wait, and counts done and waiting", () => {
    expect(progressShown(null)).toBe(false);
    expect(progressShown(IDLE)).toBe(false);
    expect(progressShown({ ...IDLE, done: 5, found: 5 })).toBe(false);
    expect(progressShown({ ...IDLE, running: true })).toBe(true);
    expect(progressShown({ ...IDLE, queued: 2, failed: 2 })).toBe(true);
    expect(progressTotal({ ...IDLE, done: 12, queued: 28 })).toBe(40);
  });
});

describe("queueing a selection's lookups", () => {
  function recorder(queued = 7) {
    const bodies: unknown[] = [];
    const send = async (body: unknown) => {
      bodies.push(body);
      return { queued: queued + bodies.length };
    };
    return { bodies, send };
  }
  const noList = async () => {
    throw new Error("not listed");
  };

  it("sends models chosen one by one as sha256s, at most 500 a request", async () => {
    const picked = new Set(Array.from({ length: MAX_QUEUED_SHAS + 20 }, (_, i) => sha(i)));
    const { bodies, send } = recorder();
    const queued = await queueSelection(send, { ...EMPTY, picked }, FILTER, noList);
    expect(bodies).toEqual([
      { sha256s: [...picked].slice(0, MAX_QUEUED_SHAS) },
      { sha256s: [...picked].slice(MAX_QUEUED_SHAS) },
    ]);
    expect(queued).toBe(9); // the daemon's count after the last request
  });

  it("sends a whole filter as the filter", async () => {
    const { bodies, send } = recorder();
    const queued = await queueSelection(send, { ...EMPTY, all: true }, FILTER, noList);
    expect(bodies).toEqual([{ filter: { q: "naut", type: "loras", hide_nsfw: "true" } }]);
    expect(queued).toBe(8);
  });

  it("sends a filter with models taken out as the sha256s of its pages but those", async () => {
    const all = Array.from({ length: 1200 }, (_, i) => sha(i));
    const pages: (string | null)[] = [];
    const list = async (after: string | null) => {
      pages.push(after);
      const from = after === null ? 0 : all.indexOf(after) + 1;
      const shas = all.slice(from, from + 400);
      return { shas, next: from + 400 < all.length ? (shas[shas.length - 1] ?? null) : null };
    };
    const except = new Set([sha(0), sha(450), sha(1199)]);
    const sel: BulkSelection = { all: true, picked: new Set(), except };
    const { bodies, send } = recorder();
    await queueSelection(send, sel, FILTER, list);
    expect(pages).toEqual([null, sha(399), sha(799)]);
    const sent = (bodies as { sha256s: string[] }[]).map((b) => b.sha256s);
    expect(sent.map((s) => s.length)).toEqual([500, 500, 197]);
    expect(sent.flat()).toEqual(all.filter((s) => !except.has(s)));
  });

  it("sends nothing for nothing", async () => {
    const { bodies, send } = recorder();
    expect(await queueSelection(send, EMPTY, FILTER, noList)).toBeNull();
    const list = async () => ({ shas: [sha(1)], next: null });
    const sel: BulkSelection = { all: true, picked: new Set(), except: new Set([sha(1)]) };
    expect(await queueSelection(send, sel, FILTER, list)).toBeNull();
    expect(bodies).toEqual([]);
  });
});

describe("queueing the lookups of files of the queue", () => {
  function recorder() {
    const bodies: { pending_ids: number[] }[] = [];
    const send = async (body: { pending_ids: number[] }) => {
      bodies.push(body);
      return { queued: 100 + bodies.length };
    };
    return { bodies, send };
  }
  const row = (id: number, hashed = true) => ({ id, sha256: hashed ? sha(id) : null });

  it("sends the hashed rows' ids only, at most 10,000 a request, and answers the daemon's last count", async () => {
    const rows = Array.from({ length: MAX_QUEUED_PENDING + 5 }, (_, i) => row(i + 1, i !== 3));
    const { bodies, send } = recorder();
    expect(await queuePending(send, rows)).toBe(102);
    const ids = rows.filter((r) => r.sha256 !== null).map((r) => r.id);
    expect(bodies).toEqual([{ pending_ids: ids.slice(0, MAX_QUEUED_PENDING) }, { pending_ids: ids.slice(MAX_QUEUED_PENDING) }]);
    expect(bodies.flatMap((b) => b.pending_ids)).not.toContain(4);
  });

  it("sends nothing when no row is hashed yet", async () => {
    const { bodies, send } = recorder();
    expect(await queuePending(send, [row(1, false), row(2, false)])).toBeNull();
    expect(await queuePending(send, [])).toBeNull();
    expect(bodies).toEqual([]);
  });
});
