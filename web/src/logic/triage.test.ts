import { describe, expect, it } from "vitest";
import type { ImportReport, PendingItem } from "../api/types";
import { folderChoices, folderOf, inTriage, isDamaged, reportLines, twinsOf, typeChoices, visibleRows } from "./inbox";

function row(id: number, path: string, extra: Partial<PendingItem> = {}): PendingItem {
  return {
    id,
    path,
    name: path.split("/").pop() ?? path,
    type: path.includes("/checkpoints/") ? "checkpoints" : "loras",
    size_bytes: 1,
    status: "ready",
    sha256: null,
    blake3: null,
    conflict_sha256: null,
    error: null,
    discovered_at: 0,
    hashed_at: null,
    ...extra,
  };
}

const ROOTS = ["/m", "/extra/loras"];
const rows = [
  row(1, "/m/loras/characters/少女风格.safetensors"),
  row(2, "/m/loras/characters/deep/Hero.safetensors"),
  row(3, "/m/loras/stylesheet.safetensors"),
  row(4, "/m/checkpoints/base.safetensors"),
  row(5, "/extra/loras/top.safetensors"),
];

describe("triage filters", () => {
  it("names a file's folder relative to the deepest model folder holding it", () => {
    expect(folderOf("/m/loras/characters/a.safetensors", ROOTS)).toBe("loras/characters");
    expect(folderOf("/extra/loras/top.safetensors", ROOTS)).toBe("");
    expect(folderOf("C:\\m\\loras\\x.safetensors", ["C:\\m"])).toBe("loras");
    expect(folderOf("/elsewhere/x.safetensors", ROOTS)).toBe("/elsewhere");
  });

  it("searches names and paths in any case, CJK as typed, and narrows by type and whole folders", () => {
    const ids = (q: string, type = "", folder = "") =>
      visibleRows(rows, "active", { q, type, folder }, ROOTS).map((r) => r.id);
    expect(ids("少女")).toEqual([1]);
    expect(ids("HERO")).toEqual([2]);
    expect(ids("characters")).toEqual([2, 1]);
    expect(ids("", "CHECKPOINTS")).toEqual([4]);
    expect(ids("", "", "loras/characters")).toEqual([2, 1]);
    expect(ids("", "", "loras/style")).toEqual([]);
    expect(ids("", "", "loras")).toEqual([3, 2, 1]);
    expect(inTriage(rows[0] as PendingItem, { q: "  ", type: "", folder: "" }, ROOTS)).toBe(true);
  });

  it("offers every folder a row is in and the folders above it, and every type", () => {
    expect(folderChoices(rows, ROOTS)).toEqual(["checkpoints", "loras", "loras/characters", "loras/characters/deep"]);
    expect(typeChoices(rows)).toEqual(["checkpoints", "loras"]);
  });
});

describe("twins", () => {
  it("pairs hashed rows with the same content, not imported, not the ignored or still hashing ones", () => {
    const twins = twinsOf([
      row(1, "/m/loras/a.safetensors", { sha256: "s" }),
      row(2, "/m/loras/b.safetensors", { sha256: "s", status: "conflict" }),
      row(3, "/m/loras/c.safetensors", { sha256: "s", status: "ignored" }),
      row(4, "/m/loras/d.safetensors", { sha256: "t" }),
    ]);
    expect(twins.get(1)?.map((r) => r.id)).toEqual([2]);
    expect(twins.get(2)?.map((r) => r.id)).toEqual([1]);
    expect(twins.has(3) || twins.has(4)).toBe(false);
  });
});

describe("damage and reports", () => {
  it("takes a damaged row for damaged unless it is in error", () => {
    expect(isDamaged(row(1, "/m/a", { damaged: true }))).toBe(true);
    expect(isDamaged(row(1, "/m/a", { damaged: true, status: "error" }))).toBe(false);
    expect(isDamaged(undefined)).toBe(false);
  });

  it("lists each file once with what happened to it, in the order asked", () => {
    const report: ImportReport = {
      imported: [{ id: 3, sha256: "a" }, { id: 1, sha256: "b" }],
      conflicts: [],
      ignored: [5],
      deleted: [2, 6],
      trashed: [{ id: 2, path: "/m/loras/dup.safetensors", along: [] }],
      failed: [{ id: 4, error: "boom" }],
      refused: [{ id: 7, reason: "truncated" }],
    };
    expect(reportLines(report, [1, 2, 3, 4, 5, 6, 7], new Map([[3, "override"], [2, "delete"]]))).toEqual([
      { id: 1, outcome: "new", detail: "" },
      { id: 2, outcome: "trashed", detail: "/m/loras/dup.safetensors" },
      { id: 3, outcome: "override", detail: "" },
      { id: 4, outcome: "failed", detail: "boom" },
      { id: 5, outcome: "ignored", detail: "" },
      { id: 6, outcome: "dropped", detail: "" },
      { id: 7, outcome: "refused", detail: "truncated" },
    ]);
  });
});
