import { createPinia, setActivePinia } from "pinia";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ref } from "vue";
import { ApiError } from "../api/client";
import type { LookupAnswer, PendingDetail } from "../api/types";
import { useLookupsStore } from "../stores/lookups";
import { useUiStore } from "../stores/ui";
import { usePendingFetch } from "./usePendingFetch";

const api = vi.hoisted(() => ({ fetchPendingMetadata: vi.fn() }));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));
vi.mock("../i18n", () => ({
  i18n: {
    global: {
      t: (key: string, args?: object, plural?: number) =>
        `${key}${args ? ` ${JSON.stringify(args)}` : ""}${plural === undefined ? "" : ` #${plural}`}`,
      locale: { value: "en" },
    },
  },
}));

const ID = 7;

function row(over: Partial<PendingDetail> = {}): PendingDetail {
  return { id: ID, sha256: "a".repeat(64), meta_json: {}, ...over } as PendingDetail;
}

function answer(over: Partial<LookupAnswer> = {}): LookupAnswer {
  return {
    state: "found",
    source: "civitai",
    checked_at: Date.UTC(2025, 0, 15, 12) / 1000,
    remembered: false,
    notes: [],
    record: {},
    changed: { fields: [], tags: [], images: 2 },
    ...over,
  };
}

let detail = ref<PendingDetail | null>(null);
let reload = vi.fn();

beforeEach(() => {
  setActivePinia(createPinia());
  api.fetchPendingMetadata.mockReset();
  detail = ref<PendingDetail | null>(row());
  reload = vi.fn(async () => undefined);
});

function texts(): string[] {
  return useUiStore().toasts.map((t) => t.text);
}

describe("looking a file of the queue up on the web", () => {
  it("reads the row again and says how many previews came, the rest at import", async () => {
    api.fetchPendingMetadata.mockResolvedValueOnce(answer());
    const { fetchPending, fetching } = usePendingFetch(detail, reload);
    const done = fetchPending(ID);
    expect(fetching.value).toBe(true);
    await done;
    expect(api.fetchPendingMetadata).toHaveBeenCalledWith(ID, false);
    expect(reload).toHaveBeenCalledTimes(1);
    expect(fetching.value).toBe(false);
    expect(texts()).toEqual(['webmeta.pendingFound {"source":"Civitai","n":2} #2']);
  });

  it("says so when the previews were all taken before", async () => {
    api.fetchPendingMetadata.mockResolvedValueOnce(answer({ source: "civarchive", changed: { fields: [], tags: [], images: 0 } }));
    await usePendingFetch(detail, reload).fetchPending(ID);
    expect(texts()).toEqual(['webmeta.pendingFound {"source":"CivArchive","n":0} #0']);
  });

  it("does not read a row the details no longer show", async () => {
    api.fetchPendingMetadata.mockResolvedValueOnce(answer());
    const { fetchPending } = usePendingFetch(detail, reload);
    const done = fetchPending(ID);
    detail.value = row({ id: ID + 1 });
    await done;
    expect(reload).not.toHaveBeenCalled();
    expect(texts()).toHaveLength(1);
  });

  it("says not found, and from memory offers to ask again, which forces a new lookup", async () => {
    const notFound = answer({ state: "not_found", source: null, record: null, changed: null });
    api.fetchPendingMetadata.mockResolvedValueOnce(notFound).mockResolvedValueOnce({ ...notFound, remembered: true });
    const { fetchPending } = usePendingFetch(detail, reload);
    await fetchPending(ID);
    await fetchPending(ID);
    const ui = useUiStore();
    expect(texts()).toEqual(["webmeta.notFound", 'webmeta.notFoundRemembered {"date":"Jan 15, 2025"}']);
    expect(ui.toasts[0]?.action).toBeUndefined();
    expect(ui.toasts[1]?.action?.label).toBe("webmeta.askAgain");
    api.fetchPendingMetadata.mockResolvedValueOnce(notFound);
    ui.toasts[1]?.action?.run();
    await vi.waitFor(() => expect(api.fetchPendingMetadata).toHaveBeenLastCalledWith(ID, true));
  });

  it("says the sources could not be reached on a 502, and leaves the lookups on", async () => {
    api.fetchPendingMetadata.mockRejectedValueOnce(new ApiError(502, "the metadata sources gave no answer to go by"));
    await usePendingFetch(detail, reload).fetchPending(ID);
    expect(texts()).toEqual(['webmeta.unreachable {"error":"the metadata sources gave no answer to go by"}']);
    expect(useLookupsStore().off).toBeNull();
  });

  it("shows a 409 about the file as given, and takes any other for the lookups being off", async () => {
    const notHashed = "this file is not hashed yet: it is looked up by its content";
    api.fetchPendingMetadata.mockRejectedValueOnce(new ApiError(409, notHashed));
    reload.mockImplementationOnce(async () => {
      detail.value = row({ sha256: null }); // hashed again meanwhile (a retry)
    });
    const { fetchPending } = usePendingFetch(detail, reload);
    await fetchPending(ID);
    expect(texts()).toEqual([notHashed]);

    const kept = "this file is kept away from the web (`never_fetch`); clear that to look it up";
    detail.value = row({ meta_json: { never_fetch: true } });
    api.fetchPendingMetadata.mockRejectedValueOnce(new ApiError(409, kept));
    await fetchPending(ID);
    expect(texts()).toEqual([notHashed, kept]);
    expect(useLookupsStore().off).toBeNull();

    detail.value = row();
    const off = "the metadata lookups are off: `metadata_sources` names no source";
    api.fetchPendingMetadata.mockRejectedValueOnce(new ApiError(409, off));
    await fetchPending(ID);
    expect(texts()).toEqual([notHashed, kept, off]);
    expect(useLookupsStore().off).toBe(off);
    await fetchPending(ID);
    expect(api.fetchPendingMetadata).toHaveBeenCalledTimes(3); // not offered again
  });
});
