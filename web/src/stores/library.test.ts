import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TypeCounts } from "../api/types";
import { deferred, settle } from "../testing/deferred";
import { emit, eventsConnected, resetEvents } from "../testing/fakeEvents";
import { useLibraryStore } from "./library";

const api = vi.hoisted(() => ({ types: vi.fn(), tags: vi.fn() }));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));

function counts(models: number): { types: TypeCounts[] } {
  return { types: [{ type: "loras", models, hidden: 0, missing: 0, pending: 0 }] };
}

const stops: (() => void)[] = [];

beforeEach(() => {
  vi.useFakeTimers();
  setActivePinia(createPinia());
  resetEvents();
  api.types.mockReset().mockResolvedValue(counts(1));
  api.tags.mockReset().mockResolvedValue({ tags: [] });
});
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  vi.useRealTimers();
});

describe("the library store", () => {
  it("turns a burst of changes into one reload of the views, the counts and the tags", async () => {
    const store = useLibraryStore();
    for (let i = 0; i < 20; i++) {
      store.libraryChanged();
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(store.version).toBe(0);
    await vi.advanceTimersByTimeAsync(250);
    expect(store.version).toBe(1);
    expect(api.types).toHaveBeenCalledTimes(1);
    expect(api.tags).toHaveBeenCalledTimes(1);
  });

  it("keeps the newest counts when an older read answers last", async () => {
    const older = deferred<{ types: TypeCounts[] }>();
    const newer = deferred<{ types: TypeCounts[] }>();
    api.types.mockReturnValueOnce(older.promise).mockReturnValueOnce(newer.promise);
    const store = useLibraryStore();
    store.refreshTypes(0);
    await vi.advanceTimersByTimeAsync(0);
    store.refreshTypes(0);
    await vi.advanceTimersByTimeAsync(0);
    newer.resolve(counts(2));
    await settle();
    older.resolve(counts(1));
    await settle();
    expect(store.types[0]?.models).toBe(2);
  });

  it("follows model events, recounts on pending events, and reloads everything when the stream reopens", async () => {
    const store = useLibraryStore();
    stops.push(store.follow());
    await vi.advanceTimersByTimeAsync(0);
    expect(api.types).toHaveBeenCalledTimes(1);
    expect(api.tags).toHaveBeenCalledTimes(1);

    emit({ type: "pending.added", id: 1, path: "/models/loras/file1.safetensors", status: "settling" });
    await vi.advanceTimersByTimeAsync(250);
    expect(api.types).toHaveBeenCalledTimes(2);
    expect(store.version).toBe(0);

    emit({ type: "model.added", sha256: "a", path: "/models/loras/a.safetensors", status: "ok" });
    await vi.advanceTimersByTimeAsync(250);
    expect(store.version).toBe(1);

    eventsConnected.value = true;
    await vi.advanceTimersByTimeAsync(0);
    expect(store.version).toBe(1);
    eventsConnected.value = false;
    await vi.advanceTimersByTimeAsync(0);
    eventsConnected.value = true;
    await vi.advanceTimersByTimeAsync(0);
    expect(store.version).toBe(2);

    emit({ type: "model.removed", sha256: "a" });
    stops.splice(0).forEach((stop) => stop());
    expect(vi.getTimerCount()).toBe(0);
  });

  it("notes each model ComfyUI used and reads the list again once, leaving the tabs and tags alone", async () => {
    const store = useLibraryStore();
    stops.push(store.follow());
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 1; i <= 5; i++) {
      emit({ type: "models.used", models: [{ sha256: "a", use_count: i, last_used_at: 100 + i }] });
      await vi.advanceTimersByTimeAsync(50);
    }
    emit({ type: "models.used", models: [{ sha256: "b", use_count: 1, last_used_at: 7 }] });
    expect(store.usage.get("a")).toEqual({ use_count: 5, last_used_at: 105 });
    expect(store.version).toBe(0);
    await vi.advanceTimersByTimeAsync(250);
    expect(store.version).toBe(1);
    expect(store.usage.get("b")).toEqual({ use_count: 1, last_used_at: 7 });
    expect(api.types).toHaveBeenCalledTimes(1);
    expect(api.tags).toHaveBeenCalledTimes(1);
  });
});
