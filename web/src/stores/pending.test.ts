import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { PendingDetail, PendingItem, PendingList } from "../api/types";
import { deferred, settle, type Deferred } from "../testing/deferred";
import { emit, eventsConnected, listeners, resetEvents } from "../testing/fakeEvents";
import { usePendingStore } from "./pending";

const api = vi.hoisted(() => ({
  pending: vi.fn(),
  pendingDetail: vi.fn(),
  status: vi.fn(),
  scan: vi.fn(),
}));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));

function row(id: number, status: PendingItem["status"] = "ready"): PendingItem {
  return {
    id,
    path: `/models/loras/file${id}.safetensors`,
    name: `file${id}.safetensors`,
    type: "loras",
    size_bytes: 1,
    status,
    sha256: null,
    blake3: null,
    conflict_sha256: null,
    error: null,
    discovered_at: 0,
    hashed_at: null,
  };
}

function detail(id: number, status: PendingItem["status"]): PendingDetail {
  return { ...row(id, status), meta_json: {}, tags: [], images: [], training_tags: [], damaged: false,
    damaged_reason: null, base_model: null, trigger_words: [], cover: null };
}

function list(...rows: PendingItem[]): PendingList {
  return { pending: rows, total: rows.length };
}

// Following starts watchers on the shared stream state; each test stops what it started.
const stops: (() => void)[] = [];
function following(stop: () => void): () => void {
  stops.push(stop);
  return stop;
}

beforeEach(() => {
  vi.useFakeTimers();
  setActivePinia(createPinia());
  resetEvents();
  for (const fn of Object.values(api)) fn.mockReset();
  api.status.mockResolvedValue({ scan: null });
});
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  vi.useRealTimers();
});

describe("the inbox's rows", () => {
  it("replays the events that arrived while the list loaded on top of the loaded list", async () => {
    const snapshot = deferred<PendingList>();
    api.pending.mockReturnValueOnce(snapshot.promise);
    api.pendingDetail.mockImplementation((id: number) => Promise.resolve(detail(id, "ready")));
    eventsConnected.value = true;
    const store = usePendingStore();
    following(store.followInbox());
    expect(api.pending).toHaveBeenCalledTimes(1);

    // The snapshot was taken before these events: row 3 is still in it, row 5 is not yet.
    emit({ type: "pending.removed", id: 3, path: "/models/loras/file3.safetensors" });
    emit({ type: "pending.added", id: 5, path: "/models/loras/new.safetensors", status: "settling" });
    await vi.advanceTimersByTimeAsync(60);
    snapshot.resolve(list(row(1), row(3)));
    await settle();

    expect([...store.rows.keys()].sort()).toEqual([1, 5]);
    expect(store.rows.get(5)?.name).toBe("new.safetensors");
    expect(store.loaded).toBe(true);
    // Events carry no size or hashes: the replayed row's full record is read a moment later.
    await vi.advanceTimersByTimeAsync(150);
    expect(api.pendingDetail).toHaveBeenCalledWith(5, expect.any(AbortSignal));
    expect(store.rows.get(5)?.status).toBe("ready");
  });

  it("reads the list again each time the event stream opens again (events sent meanwhile are lost)", async () => {
    api.pending.mockResolvedValue(list(row(1)));
    const store = usePendingStore();
    following(store.followInbox());
    expect(api.pending).not.toHaveBeenCalled();
    eventsConnected.value = true;
    await settle();
    expect(api.pending).toHaveBeenCalledTimes(1);
    eventsConnected.value = false;
    await settle();
    api.pending.mockResolvedValue(list(row(1), row(2)));
    eventsConnected.value = true;
    await settle();
    expect(api.pending).toHaveBeenCalledTimes(2);
    expect([...store.rows.keys()]).toEqual([1, 2]);
  });

  it("reads the list anyway when the stream does not open within a moment", async () => {
    api.pending.mockResolvedValue(list(row(4)));
    const store = usePendingStore();
    following(store.followInbox());
    await vi.advanceTimersByTimeAsync(1499);
    expect(api.pending).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(api.pending).toHaveBeenCalledTimes(1);
    expect(store.rows.has(4)).toBe(true);
  });

  it("drops an older read of a row that answers after a newer one", async () => {
    api.pending.mockResolvedValue(list(row(7, "settling")));
    eventsConnected.value = true;
    const store = usePendingStore();
    following(store.followInbox());
    await settle();
    const older = deferred<PendingDetail>();
    const newer = deferred<PendingDetail>();
    api.pendingDetail.mockReturnValueOnce(older.promise).mockReturnValueOnce(newer.promise);

    emit({ type: "pending.updated", id: 7, path: "/models/loras/file7.safetensors", status: "hashing" });
    await vi.advanceTimersByTimeAsync(60 + 150);
    emit({ type: "pending.updated", id: 7, path: "/models/loras/file7.safetensors", status: "ready" });
    await vi.advanceTimersByTimeAsync(60 + 150);
    expect(api.pendingDetail).toHaveBeenCalledTimes(2);

    newer.resolve(detail(7, "ready"));
    await settle();
    older.resolve(detail(7, "hashing"));
    await settle();
    expect(store.rows.get(7)?.status).toBe("ready");
  });

  it("drops an older list read that answers after a newer one", async () => {
    const older = deferred<PendingList>();
    api.pending.mockReturnValueOnce(older.promise).mockResolvedValueOnce(list(row(2)));
    const store = usePendingStore();
    void store.reload();
    await store.reload();
    older.resolve(list(row(1)));
    await settle();
    expect([...store.rows.keys()]).toEqual([2]);
    expect(store.loading).toBe(false);
  });

  it("forgets a row the daemon no longer has when its record is read", async () => {
    api.pending.mockResolvedValue(list(row(8, "settling")));
    api.pendingDetail.mockRejectedValue(new ApiError(404, "no such pending item"));
    eventsConnected.value = true;
    const store = usePendingStore();
    following(store.followInbox());
    await settle();
    emit({ type: "pending.updated", id: 8, path: "/models/loras/file8.safetensors", status: "ready" });
    await vi.advanceTimersByTimeAsync(60 + 150);
    expect(store.rows.has(8)).toBe(false);
  });

  it("applies a burst of events together, a few times a second at most", async () => {
    api.pending.mockResolvedValue(list());
    eventsConnected.value = true;
    const store = usePendingStore();
    following(store.followInbox());
    await settle();
    for (let id = 1; id <= 50; id++) emit({ type: "pending.added", id, path: `/m/${id}.safetensors`, status: "settling" });
    await vi.advanceTimersByTimeAsync(59);
    expect(store.rows.size).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.rows.size).toBe(50);
  });

  it("reads the whole list again, not row by row, when very many rows changed at once", async () => {
    api.pending.mockResolvedValue(list());
    eventsConnected.value = true;
    const store = usePendingStore();
    following(store.followInbox());
    await settle();
    for (let id = 1; id <= 101; id++) emit({ type: "pending.added", id, path: `/m/${id}.safetensors`, status: "settling" });
    await vi.advanceTimersByTimeAsync(60 + 150);
    expect(api.pendingDetail).not.toHaveBeenCalled();
    expect(api.pending).toHaveBeenCalledTimes(2);
  });

  it("stops listening, clears its timers and cancels its reads when the inbox closes", async () => {
    const snapshot = deferred<PendingList>();
    api.pending.mockReturnValueOnce(snapshot.promise);
    eventsConnected.value = true;
    const store = usePendingStore();
    const stop = following(store.followInbox());
    emit({ type: "pending.added", id: 1, path: "/m/1.safetensors", status: "settling" });
    const signal = api.pending.mock.calls[0]?.[3] as AbortSignal;
    stop();
    expect(signal.aborted).toBe(true);
    expect(listeners()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    snapshot.resolve(list(row(9)));
    await settle();
    expect(store.rows.size).toBe(0);
    expect(store.loading).toBe(false);
  });
});

describe("the pending count", () => {
  it("merges a burst of reloads into the read under way and one more after it", async () => {
    const first = deferred<PendingList>();
    api.pending.mockReturnValueOnce(first.promise).mockResolvedValueOnce({ pending: [], total: 42 });
    const store = usePendingStore();
    const reads = Array.from({ length: 50 }, () => store.refreshCount());
    first.resolve({ pending: [], total: 41 });
    await Promise.all(reads);
    expect(api.pending).toHaveBeenCalledTimes(2);
    expect(api.pending).toHaveBeenCalledWith("active", 0, 0);
    expect(store.count).toBe(42);
  });

  it("is read again on pending events and when the stream reopens, not on its first open", async () => {
    api.pending.mockResolvedValue({ pending: [], total: 3 });
    const store = usePendingStore();
    following(store.followCount());
    await settle();
    expect(api.pending).toHaveBeenCalledTimes(1);
    eventsConnected.value = true;
    await settle();
    expect(api.pending).toHaveBeenCalledTimes(1);
    emit({ type: "model.updated", sha256: "a" });
    emit({ type: "pending.removed", id: 1, path: "/models/loras/file1.safetensors" });
    await settle();
    expect(api.pending).toHaveBeenCalledTimes(2);
    eventsConnected.value = false;
    await settle();
    eventsConnected.value = true;
    await settle();
    expect(api.pending).toHaveBeenCalledTimes(3);
  });
});

describe("a scan", () => {
  it("shows progress at once and puts back the running walk's when the daemon says one is running", async () => {
    const store = usePendingStore();
    const running = { phase: "walking", started_at: 1, dirs: 5 } as unknown as NonNullable<typeof store.scanProgress>;
    store.scanProgress = running;
    const answer: Deferred<unknown> = deferred();
    api.scan.mockReturnValueOnce(answer.promise);
    const result = store.startScan();
    expect(store.scanProgress?.dirs).toBe(0);
    answer.reject(new ApiError(409, "a scan is running"));
    expect(await result).toBe("running");
    expect(store.scanProgress).toEqual(running);
  });
});
