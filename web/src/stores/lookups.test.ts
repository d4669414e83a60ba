import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { LookupProgress } from "../api/types";
import { IDLE } from "../logic/webmeta";
import { deferred, settle } from "../testing/deferred";
import { emit, eventsConnected, resetEvents } from "../testing/fakeEvents";
import { useLookupsStore } from "./lookups";
import { useUiStore } from "./ui";

const api = vi.hoisted(() => ({ status: vi.fn(), fetchMetadata: vi.fn() }));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));
// The messages by their key and what fills them in (the languages' texts are i18n.test.ts's business).
vi.mock("../i18n", () => ({
  i18n: { global: { t: (key: string, args?: object) => (args ? `${key} ${JSON.stringify(args)}` : key), locale: { value: "en" } } },
}));

const stops: (() => void)[] = [];

function status(lookups: LookupProgress) {
  return { lookups };
}

function event(p: Partial<LookupProgress>) {
  return { type: "lookup.progress" as const, ...IDLE, ...p };
}

beforeEach(() => {
  setActivePinia(createPinia());
  resetEvents();
  api.status.mockReset().mockResolvedValue(status(IDLE));
  api.fetchMetadata.mockReset();
});
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

describe("the lookups store", () => {
  it("reads the lookups from the status, then follows their events, and says when a run ends", async () => {
    api.status.mockResolvedValueOnce(status({ ...IDLE, running: true, queued: 3, done: 1, found: 1 }));
    const store = useLookupsStore();
    const ui = useUiStore();
    stops.push(store.follow());
    await settle();
    expect(store.progress).toMatchObject({ running: true, queued: 3, done: 1 });
    emit(event({ running: true, queued: 2, done: 2, found: 1, not_found: 1 }));
    expect(store.progress).toMatchObject({ queued: 2, done: 2, not_found: 1 });
    expect(store.progress).not.toHaveProperty("type");
    expect(ui.toasts).toEqual([]);
    emit(event({ running: false, queued: 0, done: 4, found: 3, not_found: 1 }));
    expect(ui.toasts.map((t) => t.text)).toEqual(['webmeta.finished {"done":"4","found":"3","notFound":"1"}']);
  });

  it("keeps what an event said over a status read that started before it", async () => {
    const read = deferred<{ lookups: LookupProgress }>();
    api.status.mockReturnValueOnce(read.promise);
    const store = useLookupsStore();
    stops.push(store.follow());
    emit(event({ running: true, queued: 5 }));
    read.resolve(status(IDLE));
    await settle();
    expect(store.progress).toMatchObject({ running: true, queued: 5 });
  });

  it("reads the status again when the stream reopens", async () => {
    const store = useLookupsStore();
    stops.push(store.follow());
    await settle();
    eventsConnected.value = true;
    await settle();
    eventsConnected.value = false;
    await settle();
    api.status.mockResolvedValueOnce(status({ ...IDLE, queued: 9 }));
    eventsConnected.value = true;
    await settle();
    expect(api.status).toHaveBeenCalledTimes(2);
    expect(store.progress?.queued).toBe(9);
  });

  it("says how many were queued and shows them waiting until the worker's events arrive", async () => {
    const store = useLookupsStore();
    const ui = useUiStore();
    api.fetchMetadata.mockResolvedValueOnce({ queued: 12 });
    await store.queueMissing();
    expect(api.fetchMetadata).toHaveBeenCalledWith({});
    expect(store.progress).toMatchObject({ queued: 12, running: false });
    expect(ui.toasts.map((t) => t.text)).toEqual(['webmeta.queued {"n":"12"}']);
    await store.queue(async () => 0);
    expect(ui.toasts.map((t) => t.text)).toContain("webmeta.queuedNone");
  });

  it("leaves the progress to an event that came while the request was under way", async () => {
    const store = useLookupsStore();
    stops.push(store.follow());
    await settle();
    const answer = deferred<number>();
    const queued = store.queue(() => answer.promise);
    emit(event({ running: false, queued: 0, done: 3, found: 3 }));
    answer.resolve(3);
    await queued;
    expect(store.progress).toMatchObject({ queued: 0, running: false });
  });

  it("offers no lookups again once the daemon said they are off, and says so once", async () => {
    const store = useLookupsStore();
    const ui = useUiStore();
    const message = "the metadata lookups are off: `metadata_sources` names no source";
    api.fetchMetadata.mockRejectedValue(new ApiError(409, message));
    await store.queueMissing();
    expect(store.off).toBe(message);
    await store.queueMissing();
    store.turnOff(message);
    expect(api.fetchMetadata).toHaveBeenCalledTimes(1);
    expect(ui.toasts.map((t) => [t.kind, t.text])).toEqual([["error", message]]);
  });

  it("reports other failures and stays on", async () => {
    const store = useLookupsStore();
    const ui = useUiStore();
    api.fetchMetadata.mockRejectedValueOnce(new ApiError(503, "the database does not answer"));
    await store.queueMissing();
    expect(store.off).toBeNull();
    expect(ui.toasts.map((t) => t.text)).toEqual(["the database does not answer (503)"]);
  });
});
