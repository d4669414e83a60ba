import { createPinia, setActivePinia } from "pinia";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ref } from "vue";
import { ApiError } from "../api/client";
import type { LookupAnswer, ModelDetail } from "../api/types";
import { useLookupsStore } from "../stores/lookups";
import { useUiStore } from "../stores/ui";
import { useModelFetch } from "./useModelFetch";

const api = vi.hoisted(() => ({ fetchModelMetadata: vi.fn(), types: vi.fn(), tags: vi.fn() }));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));
vi.mock("../i18n", () => ({
  i18n: {
    global: {
      t: (key: string, args?: object) => (args ? `${key} ${JSON.stringify(args)}` : key),
      locale: { value: "en" },
    },
  },
}));

const SHA = "a".repeat(64);

function model(meta: ModelDetail["meta_json"] = {}): ModelDetail {
  return { sha256: SHA, meta_json: meta } as ModelDetail;
}

function found(over: Partial<LookupAnswer> = {}): LookupAnswer {
  return {
    state: "found",
    source: "civitai",
    checked_at: Date.UTC(2025, 0, 15, 12) / 1000,
    remembered: false,
    notes: [],
    record: {},
    changed: { fields: ["trigger_words", "description"], tags: ["a", "b", "c"], images: 2 },
    ...over,
  };
}

let detail = ref<ModelDetail | null>(null);
let reload = vi.fn();

beforeEach(() => {
  setActivePinia(createPinia());
  api.fetchModelMetadata.mockReset();
  api.types.mockResolvedValue({ types: [] });
  api.tags.mockResolvedValue({ tags: [] });
  detail = ref<ModelDetail | null>(model());
  reload = vi.fn(async () => undefined);
});

function texts(): string[] {
  return useUiStore().toasts.map((t) => t.text);
}

describe("fetching one model from the web", () => {
  it("reads the model again and says what was added, in the details' order", async () => {
    api.fetchModelMetadata.mockResolvedValueOnce(found());
    const { fetchModel, fetching } = useModelFetch(detail, reload);
    const done = fetchModel(SHA);
    expect(fetching.value).toBe(true);
    await done;
    expect(api.fetchModelMetadata).toHaveBeenCalledWith(SHA, false);
    expect(reload).toHaveBeenCalledTimes(1);
    expect(fetching.value).toBe(false);
    expect(texts()).toEqual([
      'webmeta.found {"source":"Civitai","what":"webmeta.field.description, webmeta.field.trigger_words, ' +
        'webmeta.tags {\\"n\\":3}, and webmeta.images {\\"n\\":2}"}',
    ]);
  });

  it("says when a record brought nothing new", async () => {
    api.fetchModelMetadata.mockResolvedValueOnce(found({ source: "civarchive", changed: { fields: [], tags: [], images: 0 } }));
    await useModelFetch(detail, reload).fetchModel(SHA);
    expect(texts()).toEqual(['webmeta.foundNothing {"source":"CivArchive"}']);
  });

  it("says not found, and from memory offers to ask again, which forces a new lookup", async () => {
    const notFound = found({ state: "not_found", source: null, record: null, changed: null });
    api.fetchModelMetadata.mockResolvedValueOnce(notFound).mockResolvedValueOnce({ ...notFound, remembered: true });
    const { fetchModel } = useModelFetch(detail, reload);
    await fetchModel(SHA);
    await fetchModel(SHA);
    const ui = useUiStore();
    expect(texts()).toEqual(["webmeta.notFound", 'webmeta.notFoundRemembered {"date":"Jan 15, 2025"}']);
    expect(ui.toasts[0]?.action).toBeUndefined();
    api.fetchModelMetadata.mockResolvedValueOnce(notFound);
    ui.toasts[1]?.action?.run();
    await vi.waitFor(() => expect(api.fetchModelMetadata).toHaveBeenLastCalledWith(SHA, true));
  });

  it("says the sources could not be reached on a 502, and leaves the lookups on", async () => {
    api.fetchModelMetadata.mockRejectedValueOnce(new ApiError(502, "the metadata sources gave no answer to go by"));
    await useModelFetch(detail, reload).fetchModel(SHA);
    expect(texts()).toEqual(['webmeta.unreachable {"error":"the metadata sources gave no answer to go by"}']);
    expect(useLookupsStore().off).toBeNull();
  });

  it("shows a 409 as given: about this model kept away, or the lookups off for the session", async () => {
    const kept = "this model is kept away from the web (`never_fetch`); clear that to look it up";
    api.fetchModelMetadata.mockRejectedValueOnce(new ApiError(409, kept));
    reload.mockImplementationOnce(async () => {
      detail.value = model({ never_fetch: true });
    });
    const { fetchModel } = useModelFetch(detail, reload);
    await fetchModel(SHA);
    expect(texts()).toEqual([kept]);
    expect(useLookupsStore().off).toBeNull();

    detail.value = model();
    const off = "the metadata lookups are off: `metadata_sources` names no source";
    api.fetchModelMetadata.mockRejectedValueOnce(new ApiError(409, off));
    await fetchModel(SHA);
    expect(texts()).toEqual([kept, off]);
    expect(useLookupsStore().off).toBe(off);
    await fetchModel(SHA);
    expect(api.fetchModelMetadata).toHaveBeenCalledTimes(2); // not offered again
  });
});
