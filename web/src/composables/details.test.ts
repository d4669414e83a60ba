import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { effectScope, nextTick, ref } from "vue";
import { createMemoryHistory, createRouter } from "vue-router";
import { ApiError } from "../api/client";
import type { ModelDetail, ModelImage } from "../api/types";
import { deferred, settle } from "../testing/deferred";
import { emit, resetEvents } from "../testing/fakeEvents";
import { useUiStore } from "../stores/ui";
import { useDirtyGuard } from "./useDirtyGuard";
import { useGallery } from "./useGallery";
import { useImageEdits } from "./useImageEdits";
import { useModelEditor } from "./useModelEditor";

const api = vi.hoisted(() => ({
  model: vi.fn(),
  patchModel: vi.fn(),
  deleteModel: vi.fn(),
  uploadImage: vi.fn(),
  setCover: vi.fn(),
  deleteImage: vi.fn(),
  types: vi.fn(),
  tags: vi.fn(),
}));
const updateQuery = vi.hoisted(() => vi.fn());
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../api/events", () => import("../testing/fakeEvents"));
vi.mock("../i18n", () => ({ i18n: { global: { t: (key: string) => key } } }));
vi.mock("../router", () => ({ updateQuery }));

function model(sha256: string, name = sha256): ModelDetail {
  return { sha256, name, tags: [], meta_json: {}, images: [], cover: null } as unknown as ModelDetail;
}

function image(seq: number): ModelImage {
  return { seq, urls: { low: `l${seq}`, medium: `m${seq}`, high: `h${seq}` } } as unknown as ModelImage;
}

/** Runs a composable in its own effect scope, as a component would; `stop` is the component going away. */
function mounted<T>(use: () => T): T & { stop: () => void } {
  const scope = effectScope();
  const value = scope.run(use) as T;
  return { ...(value as object), stop: () => scope.stop() } as T & { stop: () => void };
}

beforeEach(() => {
  setActivePinia(createPinia());
  resetEvents();
  for (const fn of Object.values(api)) fn.mockReset();
  api.types.mockResolvedValue({ types: [] });
  api.tags.mockResolvedValue({ tags: [] });
  vi.stubGlobal("window", new EventTarget());
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("the model editor", () => {
  it("shows the model last selected even when an earlier one answers later, and cancels that read", async () => {
    const first = deferred<ModelDetail>();
    api.model.mockReturnValueOnce(first.promise).mockResolvedValueOnce(model("b"));
    const sha = ref<string | null>("a");
    const editor = mounted(() => useModelEditor(sha));
    const firstSignal = api.model.mock.calls[0]?.[1] as AbortSignal;
    sha.value = "b";
    await settle();
    expect(firstSignal.aborted).toBe(true);
    first.resolve(model("a"));
    await settle();
    expect(editor.detail.value?.sha256).toBe("b");
    editor.stop();
  });

  it("keeps the user's typing when another tab saved the same fields, and says which", async () => {
    api.model.mockResolvedValue(model("a", "old"));
    const editor = mounted(() => useModelEditor(ref("a")));
    await settle();
    editor.form.value!.name = "mine";
    expect(editor.dirty.value).toBe(true);
    api.patchModel.mockRejectedValueOnce(new ApiError(409, "changed", { changed: { name: "theirs" } }));
    await editor.save();
    expect(editor.conflict.value).toEqual([{ field: "name", theirs: "theirs" }]);
    expect(editor.form.value?.name).toBe("mine");
    api.patchModel.mockResolvedValueOnce(model("a", "mine"));
    await editor.overwrite();
    expect(api.patchModel.mock.calls[1]?.[1]).toMatchObject({ name: "mine", if_unchanged: { name: "theirs" } });
    expect(editor.dirty.value).toBe(false);
    editor.stop();
  });

  it("reloads quietly when the daemon says the model changed, keeping unsaved edits", async () => {
    api.model.mockResolvedValueOnce(model("a", "old"));
    const editor = mounted(() => useModelEditor(ref("a")));
    await settle();
    editor.form.value!.description = "typed";
    api.model.mockResolvedValueOnce({ ...model("a", "renamed"), images: [image(1)] });
    emit({ type: "model.updated", sha256: "other" });
    emit({ type: "model.updated", sha256: "a" });
    await settle();
    expect(api.model).toHaveBeenCalledTimes(2);
    expect(editor.detail.value?.images).toHaveLength(1);
    expect(editor.form.value?.description).toBe("typed");
    editor.stop();
    emit({ type: "model.updated", sha256: "a" });
    expect(api.model).toHaveBeenCalledTimes(2);
  });

  it("says when the model is gone", async () => {
    api.model.mockRejectedValueOnce(new ApiError(404, "no such model"));
    const editor = mounted(() => useModelEditor(ref("a")));
    await settle();
    expect(editor.gone.value).toBe(true);
    expect(editor.detail.value).toBeNull();
    editor.stop();
  });
});

describe("the dirty guard", () => {
  async function setup() {
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: "/", component: {} }] });
    await router.push("/?model=a");
    const dirty = ref(false);
    const guard = mounted(() => useDirtyGuard(dirty, router));
    return { router, dirty, guard };
  }

  it("asks before leaving a model with unsaved edits and stays when told to keep them", async () => {
    const { router, dirty, guard } = await setup();
    const ui = useUiStore();
    dirty.value = true;
    const leaving = router.push("/?model=b");
    await settle();
    expect(ui.confirmRequest?.title).toBe("unsaved.title");
    ui.confirmRequest?.resolve({ ok: false, checked: false });
    await leaving;
    expect(router.currentRoute.value.query.model).toBe("a");

    // A change of the search text does not leave the model.
    await router.push("/?model=a&q=x");
    expect(ui.confirmRequest).toBeNull();
    guard.stop();
    await router.push("/?model=c");
    expect(router.currentRoute.value.query.model).toBe("c");
  });

  it("lets the page go without asking when nothing is unsaved, and has the browser ask when something is", async () => {
    const { router, dirty, guard } = await setup();
    await router.push("/?mode=inbox");
    expect(useUiStore().confirmRequest).toBeNull();
    const unload = () => {
      const e = new Event("beforeunload", { cancelable: true });
      window.dispatchEvent(e);
      return e.defaultPrevented;
    };
    expect(unload()).toBe(false);
    dirty.value = true;
    expect(unload()).toBe(true);
    guard.stop();
    expect(unload()).toBe(false);
  });
});

describe("image edits", () => {
  it("uploads one drop after another and reports the last image added", async () => {
    const firstUpload = deferred<ModelImage>();
    api.uploadImage.mockReturnValueOnce(firstUpload.promise).mockResolvedValueOnce(image(8));
    const uploaded = vi.fn();
    const changed = vi.fn();
    const edits = mounted(() => useImageEdits(ref("a"), { changed, uploaded }));
    void edits.upload([new File(["x"], "one.png")]);
    const second = edits.upload([new File(["y"], "two.png")]);
    await settle();
    expect(api.uploadImage).toHaveBeenCalledTimes(1);
    expect(edits.busy.value).toBe(true);
    firstUpload.resolve(image(7));
    await second;
    expect(api.uploadImage).toHaveBeenCalledTimes(2);
    expect(uploaded.mock.calls).toEqual([
      [7, "a"],
      [8, "a"],
    ]);
    expect(changed).toHaveBeenCalledTimes(2);
    expect(edits.busy.value).toBe(false);
    edits.stop();
  });

  it("keeps going after a file fails and lists the failures", async () => {
    vi.useFakeTimers();
    api.uploadImage.mockRejectedValueOnce(new ApiError(415, "not an image")).mockResolvedValueOnce(image(3));
    const uploaded = vi.fn();
    const edits = mounted(() => useImageEdits(ref("a"), { changed: vi.fn(), uploaded }));
    await edits.upload([new File(["x"], "bad.txt"), new File(["y"], "good.png")]);
    expect(edits.error.value).toBe("details.uploadFailed");
    expect(uploaded).toHaveBeenCalledWith(3, "a");
    expect(useUiStore().toasts.map((t) => t.kind)).toEqual(["error", "info"]);
    edits.stop();
  });

  it("deletes an image only when the user confirms", async () => {
    const edits = mounted(() => useImageEdits(ref("a"), { changed: vi.fn(), uploaded: vi.fn() }));
    const ui = useUiStore();
    const asked = edits.remove(image(2), 1);
    ui.confirmRequest?.resolve({ ok: false, checked: false });
    await asked;
    expect(api.deleteImage).not.toHaveBeenCalled();
    api.deleteImage.mockResolvedValueOnce({ deleted: 2 });
    const confirmed = edits.remove(image(2), 1);
    ui.confirmRequest?.resolve({ ok: true, checked: false });
    await confirmed;
    expect(api.deleteImage).toHaveBeenCalledWith("a", 2);
    edits.stop();
  });
});

describe("the gallery", () => {
  it("starts at the cover, wraps around, and keeps the shown image when others come and go", async () => {
    const sha = ref("a");
    const images = ref([image(1), image(2), image(3)]);
    const cover = ref<ModelImage["urls"] | null>(image(2).urls);
    const g = mounted(() => useGallery(sha, images, cover));
    expect(g.current.value?.seq).toBe(2);
    g.go(g.index.value + 2);
    expect(g.current.value?.seq).toBe(1);
    images.value = [image(0), image(1), image(2), image(3)];
    expect(g.current.value?.seq).toBe(1);
    g.show(3);
    expect(g.index.value).toBe(3);
    sha.value = "b";
    await nextTick();
    expect(g.current.value?.seq).toBe(2);
    g.stop();
  });
});
