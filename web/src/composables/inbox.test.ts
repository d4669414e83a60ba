import { createPinia, setActivePinia } from "pinia";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { effectScope, nextTick, ref } from "vue";
import type { ConflictEntry, ImportReport, PendingItem } from "../api/types";
import { deferred, settle } from "../testing/deferred";
import { usePendingStore } from "../stores/pending";
import { useConflictChoices } from "./useConflictChoices";
import { PARALLEL_LOADS, useConflictDetails } from "./useConflictDetails";
import { useImportFlow, type DamagedAnswer } from "./useImportFlow";
import { keyTarget } from "./useListKeyboard";
import { useSelection } from "./useSelection";

const api = vi.hoisted(() => ({
  pending: vi.fn(),
  pendingDetail: vi.fn(),
  model: vi.fn(),
  importPending: vi.fn(),
  restorePending: vi.fn(),
  retryPending: vi.fn(),
  types: vi.fn(),
  tags: vi.fn(),
}));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));
vi.mock("../i18n", () => ({ i18n: { global: { t: (key: string) => key } } }));

function conflict(id: number): ConflictEntry {
  const side = { name: `m${id}`, path: `/m/${id}`, size_bytes: 1, type: "loras" };
  return { id, pending: side, existing: { ...side, sha256: `sha${id}`, base_model: "" } } as unknown as ConflictEntry;
}

function report(part: Partial<ImportReport>): ImportReport {
  return { imported: [], conflicts: [], ignored: [], deleted: [], failed: [], refused: [], trashed: [], ...part };
}

function imported(id: number): ImportReport["imported"] {
  return [{ id }] as ImportReport["imported"];
}

beforeEach(() => {
  setActivePinia(createPinia());
  for (const fn of Object.values(api)) fn.mockReset();
});

describe("the selection", () => {
  it("toggles, selects a range from the last row chosen, and counts only rows in view", () => {
    const rows = ref([{ id: 5 }, { id: 4 }, { id: 3 }, { id: 2 }]);
    const s = useSelection(rows);
    s.choose(4, false);
    s.choose(2, true);
    expect(s.selectedIds.value).toEqual([4, 3, 2]);
    rows.value = [{ id: 5 }, { id: 4 }];
    expect(s.selectedIds.value).toEqual([4]);
    s.choose(4, false);
    expect(s.selectedIds.value).toEqual([]);
  });

  it("selects by rule and starts a new range after it", () => {
    const rows = ref([
      { id: 3, ready: true },
      { id: 2, ready: false },
      { id: 1, ready: true },
    ]);
    const s = useSelection(rows);
    s.choose(3, false);
    s.selectWhere((r) => r.ready);
    expect(s.selectedIds.value).toEqual([3, 1]);
    // Without an anchor a shift-click toggles only its own row.
    s.choose(2, true);
    expect(s.selectedIds.value).toEqual([3, 2, 1]);
    s.retain((id) => id !== 2);
    expect(s.selectedIds.value).toEqual([3, 1]);
  });
});

describe("the selection as rows come and go", () => {
  it("keeps the selection when rows arrive, and forgets rows that leave", async () => {
    const scope = effectScope();
    const rows = ref([{ id: 3 }, { id: 2 }, { id: 1 }]);
    const s = scope.run(() => useSelection(rows));
    if (!s) throw new Error("no selection");
    s.choose(3, false);
    s.choose(1, false);
    rows.value = [{ id: 5 }, { id: 4 }, ...rows.value];
    await nextTick();
    expect(s.selectedIds.value).toEqual([3, 1]);
    rows.value = [{ id: 5 }, { id: 4 }, { id: 2 }, { id: 1 }];
    await nextTick();
    expect([...s.selected.value]).toEqual([1]);
    // A row that comes back (restored, or back in the filter) is not selected again by itself.
    rows.value = [{ id: 5 }, { id: 4 }, { id: 3 }, { id: 2 }, { id: 1 }];
    await nextTick();
    expect(s.selectedIds.value).toEqual([1]);
    scope.stop();
  });

  it("starts no range from a row that left", async () => {
    const scope = effectScope();
    const rows = ref([{ id: 4 }, { id: 3 }, { id: 2 }, { id: 1 }]);
    const s = scope.run(() => useSelection(rows));
    if (!s) throw new Error("no selection");
    s.choose(4, false);
    s.choose(4, false);
    rows.value = [{ id: 3 }, { id: 2 }, { id: 1 }];
    await nextTick();
    rows.value = [{ id: 4 }, { id: 3 }, { id: 2 }, { id: 1 }];
    await nextTick();
    s.choose(2, true);
    expect(s.selectedIds.value).toEqual([2]);
    scope.stop();
  });
});

describe("keyboard moves in the list", () => {
  it("moves by one, by a page, to the ends, and stays inside the list", () => {
    expect(keyTarget("ArrowDown", 3, 10, 50)).toBe(4);
    expect(keyTarget("ArrowUp", 0, 10, 50)).toBe(0);
    expect(keyTarget("PageDown", 45, 10, 50)).toBe(49);
    expect(keyTarget("PageUp", 12, 10, 50)).toBe(2);
    expect(keyTarget("Home", 30, 10, 50)).toBe(0);
    expect(keyTarget("End", 3, 10, 50)).toBe(49);
    expect(keyTarget("Enter", 3, 10, 50)).toBeNull();
  });
});

describe("the conflict choices", () => {
  it("start as merge, follow 'for all', and ask to trash files only when a row deletes", () => {
    const entries = ref([conflict(1), conflict(2)]);
    const c = useConflictChoices(entries, () => null);
    c.reset();
    expect(c.forAll.value).toBe("merge");
    c.choices.set(2, "delete");
    expect(c.forAll.value).toBe("");
    c.trash.value = true;
    expect(c.answer()).toEqual({ choices: new Map([[1, "merge"], [2, "delete"]]), deleteFiles: true });
    c.forAll.value = "override";
    expect(c.anyDelete.value).toBe(false);
    expect(c.answer().deleteFiles).toBe(false);
    c.reset();
    expect(c.trash.value).toBe(false);
  });
});

describe("the conflicts' details", () => {
  it("reads a few conflicts at a time", async () => {
    const waiting = new Map<number, () => void>();
    api.pendingDetail.mockImplementation(
      (id: number) => new Promise((resolve) => waiting.set(id, () => resolve({ id, tags: [], images: [] }))),
    );
    api.model.mockResolvedValue({ tags: [] });
    const scope = effectScope();
    const d = scope.run(() => useConflictDetails())!;
    const done = d.load(Array.from({ length: 10 }, (_, i) => conflict(i + 1)));
    await settle();
    expect(api.pendingDetail).toHaveBeenCalledTimes(PARALLEL_LOADS);
    waiting.get(1)?.();
    await settle();
    expect(api.pendingDetail).toHaveBeenCalledTimes(PARALLEL_LOADS + 1);
    for (let id = 2; id <= 10; id++) {
      waiting.get(id)?.();
      await settle();
    }
    await done;
    expect(d.loaded.size).toBe(10);
    scope.stop();
  });

  it("drops what an earlier opening read and cancels it when the dialog closes", async () => {
    const late = deferred<unknown>();
    api.pendingDetail.mockReturnValueOnce(late.promise).mockResolvedValue({ id: 2, tags: [], images: [] });
    api.model.mockResolvedValue({ tags: [] });
    const scope = effectScope();
    const d = scope.run(() => useConflictDetails())!;
    void d.load([conflict(1)]);
    const firstSignal = api.pendingDetail.mock.calls[0]?.[1] as AbortSignal;
    await d.load([conflict(2)]);
    expect(firstSignal.aborted).toBe(true);
    late.resolve({ id: 1, tags: [], images: [] });
    await settle();
    expect([...d.loaded.keys()]).toEqual([2]);
    void d.load([conflict(3)]);
    const lastSignal = api.pendingDetail.mock.calls[2]?.[1] as AbortSignal;
    scope.stop();
    expect(lastSignal.aborted).toBe(true);
  });

  it("shows each side from the conflict at once and from the reads as they arrive", async () => {
    api.pendingDetail.mockResolvedValue({
      id: 1,
      tags: [{ id: 1, name: "style" }],
      images: [{ urls: { medium: "pending.webp" } }],
      meta_json: { base_model: "SDXL", description: "new" },
    });
    api.model.mockRejectedValue(new Error("unreadable"));
    const scope = effectScope();
    const d = scope.run(() => useConflictDetails())!;
    const c = conflict(1);
    expect(d.preview(c, "pending")).toBeNull();
    expect(d.summary(c, "existing").name).toBe("m1");
    await d.load([c]);
    expect(d.tagNames(c, "pending")).toEqual(["style"]);
    expect(d.baseModel(c, "pending")).toBe("SDXL");
    expect(d.description(c, "pending")).toBe("new");
    expect(d.preview(c, "pending")).toBe("pending.webp");
    expect(d.preview(c, "existing")).toBeNull();
    expect(d.sideError(c, "existing")).toBe("unreadable");
    expect(d.sideError(c, "pending")).toBeUndefined();
    scope.stop();
  });
});

describe("the import flow", () => {
  function setup(
    selected: number[],
    choice: Parameters<typeof useImportFlow>[0]["askConflicts"],
    damaged: DamagedAnswer = "cancel",
  ) {
    const kept = ref(selected);
    const shown: ImportReport[] = [];
    const asked: number[][] = [];
    const flow = useImportFlow({
      selectedIds: () => kept.value,
      retain: (keep) => (kept.value = kept.value.filter(keep)),
      askConflicts: choice,
      askDamaged: async (rows) => {
        asked.push(rows.map((r) => r.id));
        return damaged;
      },
      showReport: async (r) => void shown.push(r),
    });
    return { flow, kept, shown, asked };
  }

  it("asks before importing damaged files: all, all but them, or nothing", async () => {
    const pending = usePendingStore();
    const rows = [
      { id: 1, name: "one", path: "/m/one", status: "ready" } as PendingItem,
      { id: 2, name: "two", path: "/m/two", status: "ready", damaged: true } as PendingItem,
    ];
    for (const r of rows) pending.rows.set(r.id, r);
    // The list read again after each import still holds both.
    api.pending.mockResolvedValue({ pending: rows, total: 2 });
    api.importPending.mockResolvedValue(report({}));
    const cancelled = setup([1, 2], async () => null, "cancel");
    await cancelled.flow.importSelected();
    expect(cancelled.asked).toEqual([[2]]);
    expect(api.importPending).not.toHaveBeenCalled();
    await setup([1, 2], async () => null, "skip").flow.importSelected();
    await setup([1, 2], async () => null, "anyway").flow.importSelected();
    expect(api.importPending.mock.calls).toEqual([
      [[1], null, false, false],
      [[1, 2], null, false, true],
    ]);
  });

  it("imports, settles conflicts with one request per strategy, and shows one report", async () => {
    const pending = usePendingStore();
    pending.rows.set(1, { id: 1, name: "one" } as PendingItem);
    api.pending.mockResolvedValue({ pending: [], total: 0 });
    api.importPending
      .mockResolvedValueOnce(report({ imported: imported(1), conflicts: [conflict(2), conflict(3), conflict(4)] }))
      .mockResolvedValueOnce(report({ imported: imported(2) }))
      .mockRejectedValueOnce(new Error("disk full"))
      .mockResolvedValueOnce(report({ conflicts: [conflict(3)] }));
    const { flow, kept, shown } = setup([1, 2, 3, 4], async () => ({
      choices: new Map([
        [2, "override"],
        [3, "delete"],
        [4, "ignore"],
      ] as const),
      deleteFiles: true,
    }));
    await flow.importSelected();
    expect(api.importPending.mock.calls).toEqual([
      [[1, 2, 3, 4], null, false, false],
      [[2], "override", false, false],
      [[4], "ignore", false, false],
      [[3], "delete", true, false],
    ]);
    expect(shown[0]?.imported.map((i) => i.id)).toEqual([1, 2]);
    expect(shown[0]?.failed).toEqual([{ id: 4, error: "disk full" }]);
    expect(kept.value).toEqual([3]);
    expect(flow.busy.value).toBe(false);
    // Afterwards the count and the list are read again.
    expect(api.pending).toHaveBeenCalledWith("active", 0, 0);
    expect(api.pending).toHaveBeenCalledWith("", 0, 1000, expect.any(AbortSignal));
  });

  it("imports refused damaged files only when asked to, with the confirmation", async () => {
    api.pending.mockResolvedValue({ pending: [], total: 0 });
    api.importPending
      .mockResolvedValueOnce(report({ imported: imported(1), refused: [{ id: 2, reason: "not a safetensors file" }] }))
      .mockResolvedValueOnce(report({ imported: imported(2) }));
    const { flow, shown } = setup([1, 2], async () => null);
    await flow.importSelected();
    expect(shown[0]?.refused).toEqual([{ id: 2, reason: "not a safetensors file" }]);
    await flow.importAnyway([2]);
    expect(api.importPending.mock.calls).toEqual([
      [[1, 2], null, false, false],
      [[2], null, false, true],
    ]);
    expect(shown[1]?.imported.map((i) => i.id)).toEqual([2]);
  });

  it("does one bulk action at a time", async () => {
    const answer = deferred<ImportReport>();
    api.importPending.mockReturnValueOnce(answer.promise);
    api.pending.mockResolvedValue({ pending: [], total: 0 });
    const { flow } = setup([1], async () => null);
    const first = flow.importSelected();
    await flow.importSelected();
    await flow.restoreSelected();
    expect(api.importPending).toHaveBeenCalledTimes(1);
    expect(api.restorePending).not.toHaveBeenCalled();
    answer.resolve(report({}));
    await first;
    await nextTick();
    expect(flow.busy.value).toBe(false);
  });
});
