import { describe, expect, it } from "vitest";
import type { ModelFilter } from "../api/types";
import {
  CHUNK,
  EMPTY,
  filterObject,
  isChecked,
  runBulk,
  selectedCount,
  selectSpan,
  selectSwept,
  toggleOne,
  type BulkAnswer,
  type BulkBody,
} from "./bulk";

const FILTER: ModelFilter = {
  q: " naut ",
  type: "loras",
  base_model: "",
  tags: ["a", "b"],
  exclude_tags: [],
  favorite: false,
  status: "ok",
  hide_nsfw: true,
};

function sha(i: number): string {
  return i.toString(16).padStart(64, "0");
}

describe("selection", () => {
  it("toggles named cards, and in select-all mode takes cards out instead", () => {
    let sel = toggleOne(toggleOne(EMPTY, "a"), "b");
    expect([isChecked(sel, "a"), isChecked(sel, "b"), selectedCount(sel, 50)]).toEqual([true, true, 2]);
    sel = toggleOne(sel, "a");
    expect(isChecked(sel, "a")).toBe(false);
    const all = toggleOne({ ...EMPTY, all: true }, "c");
    expect([isChecked(all, "c"), isChecked(all, "zzz"), selectedCount(all, 100_000)]).toEqual([false, true, 99_999]);
  });

  it("extends a range from the anchor in both modes", () => {
    const order = ["a", "b", "c", "d", "e"];
    expect([...selectSpan(EMPTY, order, "b", "d").picked].sort()).toEqual(["b", "c", "d"]);
    const all = { ...EMPTY, all: true, except: new Set(["b", "c", "d"]) };
    const back = selectSpan(all, order, "b", "c");
    expect([...back.except]).toEqual(["d"]);
  });

  it("sweeps a rectangle, replacing the choice or adding to it", () => {
    const before = toggleOne(EMPTY, "a");
    expect([...selectSwept(before, ["b", "c"], false).picked]).toEqual(["b", "c"]);
    expect([...selectSwept(before, ["b"], true).picked].sort()).toEqual(["a", "b"]);
    const all = { ...EMPTY, all: true, except: new Set(["b"]) };
    expect(selectSwept(all, ["b"], true).except.size).toBe(0);
  });
});

describe("runBulk", () => {
  it("sends named models in chunks and reports each failure", async () => {
    const sent: BulkBody[] = [];
    const picked = new Set(Array.from({ length: CHUNK * 2 + 5 }, (_, i) => sha(i)));
    const steps: number[] = [];
    const report = await runBulk(
      async (body) => {
        sent.push(body);
        const results = body.sha256s!.map((s) => ({ sha256: s, ok: s !== sha(3), error: s === sha(3) ? "no" : undefined }));
        return { results, done: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length };
      },
      { ...EMPTY, picked },
      FILTER,
      1000,
      "tags_add",
      { tags: ["x"] },
      (done) => steps.push(done),
    );
    expect(sent.map((b) => b.sha256s!.length)).toEqual([CHUNK, CHUNK, 5]);
    expect(sent.every((b) => b.tags![0] === "x" && b.filter === undefined)).toBe(true);
    expect(report.done).toBe(CHUNK * 2 + 4);
    expect(report.failed.map((f) => f.sha256)).toEqual([sha(3)]);
    expect(steps).toEqual([0, CHUNK, CHUNK * 2, CHUNK * 2 + 5]);
  });

  it("pages a select-all through the filter with the models left out", async () => {
    const sent: BulkBody[] = [];
    const pages: BulkAnswer[] = [
      { results: [{ sha256: sha(1), ok: true }], done: 1, failed: 0, next: sha(1), total: 2 },
      { results: [{ sha256: sha(2), ok: true }], done: 1, failed: 0, next: null },
    ];
    const of: number[] = [];
    const report = await runBulk(
      async (body) => {
        sent.push(body);
        return pages.shift()!;
      },
      { all: true, picked: new Set(), except: new Set([sha(9)]) },
      FILTER,
      3,
      "set_nsfw",
      { nsfw: true },
      (_, n) => of.push(n),
    );
    expect(report.done).toBe(2);
    expect(sent[0]).toMatchObject({ filter: filterObject(FILTER), except: [sha(9)], limit: CHUNK, nsfw: true });
    expect(sent[0]!.after).toBeUndefined();
    expect(sent[1]!.after).toBe(sha(1));
    expect(of).toEqual([2, 2, 2]);
  });

  it("gives the filter as GET /api/models reads it", () => {
    expect(filterObject(FILTER)).toEqual({ q: "naut", type: "loras", tags: "a,b", hide_nsfw: "true" });
    expect(filterObject({ ...FILTER, folder: "loras/old", unused_days: 90 })).toEqual({
      q: "naut", type: "loras", tags: "a,b", hide_nsfw: "true", folder: "loras/old", unused_days: "90",
    });
  });

  it("sends the listing's cut-off of the unused filter, not the days counted again", () => {
    expect(filterObject({ ...FILTER, unused_days: 90, unused_before: 1790000000.5 })).toEqual({
      q: "naut", type: "loras", tags: "a,b", hide_nsfw: "true", unused_before: "1790000000.5",
    });
  });
});
