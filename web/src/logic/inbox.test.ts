import { describe, expect, it } from "vitest";
import type { DaemonEvent, ImportReport, PendingItem } from "../api/types";
import {
  applyEvent,
  countByFilter,
  groupByStrategy,
  inFilter,
  mergeReports,
  metaRows,
  parseFilter,
  percent,
  rowClick,
  selectRange,
  toggle,
  visibleRows,
  words,
  type InboxState,
} from "./inbox";

function row(id: number, status: PendingItem["status"], path = `/m/loras/f${id}.safetensors`): PendingItem {
  return {
    id,
    path,
    name: path.split("/").pop() ?? path,
    type: "loras",
    size_bytes: 1024,
    status,
    sha256: null,
    blake3: null,
    conflict_sha256: null,
    error: null,
    discovered_at: 1,
    hashed_at: null,
  };
}

function state(...rows: PendingItem[]): InboxState {
  return { rows: new Map(rows.map((r) => [r.id, r])), progress: new Map() };
}

/** An event as a daemon that broke the spec might send it: the page must not store what it cannot read. */
function offSpec(event: object): DaemonEvent {
  return event as DaemonEvent;
}

describe("applyEvent", () => {
  it("adds a row from pending.added and asks for its full record", () => {
    const s = state();
    expect(applyEvent(s, { type: "pending.added", id: 7, path: "/m/loras/new.safetensors", status: "settling" })).toBe(7);
    expect(s.rows.get(7)).toMatchObject({ name: "new.safetensors", status: "settling", size_bytes: 0 });
  });

  it("patches the status and hashes of a known row without dropping its other fields", () => {
    const s = state(row(1, "hashing"));
    s.progress.set(1, { done: 5, total: 10 });
    const sha = "a".repeat(64);
    expect(applyEvent(s, { type: "pending.updated", id: 1, path: "/m/loras/f1.safetensors", status: "conflict",
      sha256: sha, conflict_sha256: sha })).toBe(1);
    expect(s.rows.get(1)).toMatchObject({ status: "conflict", sha256: sha, conflict_sha256: sha, size_bytes: 1024 });
    expect(s.progress.has(1)).toBe(false);
  });

  it("takes the new name when a row's file moved", () => {
    const s = state(row(1, "ready"));
    applyEvent(s, { type: "pending.updated", id: 1, path: "/m/vae/moved.safetensors", status: "ready" });
    expect(s.rows.get(1)).toMatchObject({ path: "/m/vae/moved.safetensors", name: "moved.safetensors" });
  });

  it("ignores an unknown status instead of storing it", () => {
    const s = state(row(1, "ready"));
    applyEvent(s, offSpec({ type: "pending.updated", id: 1, status: "exploded" }));
    expect(s.rows.get(1)?.status).toBe("ready");
  });

  it("removes rows and their progress", () => {
    const s = state(row(1, "hashing"), row(2, "ready"));
    s.progress.set(1, { done: 1, total: 2 });
    expect(applyEvent(s, { type: "pending.removed", id: 1, path: "/x" })).toBeNull();
    expect([...s.rows.keys()]).toEqual([2]);
    expect(s.progress.size).toBe(0);
  });

  it("records hashing progress and marks the row as hashing", () => {
    const s = state(row(3, "settling"));
    expect(applyEvent(s, { type: "hash.progress", id: 3, path: "/x", bytes_done: 50, bytes_total: 200 })).toBeNull();
    expect(s.progress.get(3)).toEqual({ done: 50, total: 200 });
    expect(s.rows.get(3)?.status).toBe("hashing");
    expect(percent(s.progress.get(3))).toBe(25);
  });

  it("leaves other events and events without an id alone", () => {
    const s = state(row(1, "ready"));
    expect(applyEvent(s, { type: "model.added", sha256: "x", path: "/x", status: "ok" })).toBeNull();
    expect(applyEvent(s, offSpec({ type: "pending.updated", status: "error" }))).toBeNull();
    expect(s.rows.get(1)?.status).toBe("ready");
  });
});

describe("filters", () => {
  const rows = [row(1, "settling"), row(2, "ready"), row(3, "conflict"), row(4, "error"), row(5, "ignored"),
    row(6, "ready")];

  it("active is everything but ignored, newest first", () => {
    expect(visibleRows(rows, "active").map((r) => r.id)).toEqual([6, 4, 3, 2, 1]);
    expect(visibleRows(rows, "ignored").map((r) => r.id)).toEqual([5]);
    expect(inFilter("hashing", "active")).toBe(true);
    expect(inFilter("error", "errors")).toBe(true);
  });

  it("counts every filter", () => {
    expect(countByFilter(rows)).toEqual({ active: 5, ready: 2, conflicts: 1, errors: 1, ignored: 1 });
  });

  it("reads the URL value, with active for anything unknown", () => {
    expect(parseFilter("conflicts")).toBe("conflicts");
    expect(parseFilter("")).toBe("active");
    expect(parseFilter("__proto__")).toBe("active");
  });
});

describe("a click on a row", () => {
  const plain = { shiftKey: false, ctrlKey: false, metaKey: false };

  it("opens without selecting when it is a plain click on the row", () => {
    expect(rowClick(plain, false)).toBe("open");
  });

  it("toggles on the checkbox or with Ctrl or Cmd", () => {
    expect(rowClick(plain, true)).toBe("toggle");
    expect(rowClick({ ...plain, ctrlKey: true }, false)).toBe("toggle");
    expect(rowClick({ ...plain, metaKey: true }, false)).toBe("toggle");
  });

  it("takes a range with Shift, on the row or its checkbox", () => {
    expect(rowClick({ ...plain, shiftKey: true }, false)).toBe("range");
    expect(rowClick({ ...plain, shiftKey: true, ctrlKey: true }, true)).toBe("range");
  });
});

describe("selection", () => {
  const order = [10, 9, 8, 7, 6];

  it("toggles one row", () => {
    expect([...toggle(new Set([1]), 2)]).toEqual([1, 2]);
    expect([...toggle(new Set([1, 2]), 1)]).toEqual([2]);
  });

  it("selects the range from the anchor to the target, in either direction", () => {
    expect([...selectRange(new Set([9]), order, 9, 6)].sort()).toEqual([6, 7, 8, 9]);
    expect([...selectRange(new Set(), order, 7, 9)].sort()).toEqual([7, 8, 9]);
  });

  it("clears the range when the target was selected", () => {
    expect([...selectRange(new Set([10, 9, 8, 7]), order, 10, 8)]).toEqual([7]);
  });

  it("toggles only the target without an anchor in view", () => {
    expect([...selectRange(new Set(), order, null, 8)]).toEqual([8]);
    expect([...selectRange(new Set([1]), order, 99, 8)].sort()).toEqual([1, 8]);
  });
});

describe("imports", () => {
  it("groups choices by strategy in a fixed order", () => {
    const choices = new Map([[1, "delete"], [2, "merge"], [3, "delete"], [4, "override"]] as const);
    expect(groupByStrategy(choices)).toEqual([["override", [4]], ["merge", [2]], ["delete", [1, 3]]]);
  });

  it("merges reports and drops conflicts a later answer settled", () => {
    const conflict = (id: number) => ({ id, pending: row(id, "conflict"), existing: {} as never });
    const first: ImportReport = { imported: [{ id: 1, sha256: "a" }], conflicts: [conflict(2), conflict(3)],
      ignored: [], deleted: [], failed: [], refused: [], trashed: [] };
    const second: ImportReport = { imported: [], conflicts: [], ignored: [2], deleted: [4], failed: [], refused: [],
      trashed: [{ id: 4, path: "/m/4.safetensors", along: [] }] };
    const merged = mergeReports([first, second]);
    expect(merged.imported).toEqual([{ id: 1, sha256: "a" }]);
    expect(merged.ignored).toEqual([2]);
    expect(merged.trashed.map((t) => t.path)).toEqual(["/m/4.safetensors"]);
    expect(merged.conflicts.map((c) => c.id)).toEqual([3]);
  });
});

describe("metaRows", () => {
  it("puts known fields first, the header last, and keeps nested values for a collapsible view", () => {
    const rows = metaRows({ header: { format: "safetensors" }, zeta: 1, trigger_words: ["a", "b"], description: "d",
      sidecars: {}, alpha: null, links: [{ url: "x" }] });
    expect(rows.map((r) => r.key)).toEqual(["description", "trigger_words", "alpha", "links", "zeta", "sidecars",
      "header"]);
    expect(rows[1]).toEqual({ key: "trigger_words", text: "a, b", nested: null });
    expect(rows[2]?.text).toBe("");
    expect(rows[3]?.text).toBeNull();
    expect(rows.at(-1)?.nested).toEqual({ format: "safetensors" });
  });

  it("copes with no metadata", () => {
    expect(metaRows(undefined)).toEqual([]);
  });
});

describe("formatting", () => {
  it("reads word lists from lists and comma-separated text", () => {
    expect(words(["a", "", 3, "b"])).toEqual(["a", "b"]);
    expect(words("x, y ,")).toEqual(["x", "y"]);
    expect(words(null)).toEqual([]);
  });
});
