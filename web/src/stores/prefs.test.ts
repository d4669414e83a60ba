import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { nextTick } from "vue";
import { usePrefsStore } from "./prefs";

let saved: Record<string, string> = {};

beforeEach(() => {
  setActivePinia(createPinia());
  saved = {};
  vi.stubGlobal("localStorage", {
    getItem: (key: string) => saved[key] ?? null,
    setItem: (key: string, value: string) => (saved[key] = value),
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe("the prefs store", () => {
  it("reads saved choices, keeping them in range", () => {
    saved["hikaze.prefs"] = JSON.stringify({ columns: 40, view: "list", nsfw: "blur", detailsWidth: 5 });
    expect(usePrefsStore().prefs).toEqual({ columns: 10, view: "list", nsfw: "blur", detailsWidth: 18 });
  });

  it("carries the older Show NSFW checkbox over", () => {
    saved["hikaze.prefs"] = JSON.stringify({ hideNsfw: false });
    expect(usePrefsStore().prefs.nsfw).toBe("show");
    setActivePinia(createPinia());
    saved["hikaze.prefs"] = JSON.stringify({ hideNsfw: true });
    expect(usePrefsStore().prefs.nsfw).toBe("hide");
  });

  it("falls back to the defaults when what was saved is not readable", () => {
    saved["hikaze.prefs"] = "{not json";
    expect(usePrefsStore().prefs).toEqual({ columns: 5, view: "cards", nsfw: "hide", detailsWidth: 30 });
  });

  it("saves a change", async () => {
    const { prefs } = usePrefsStore();
    prefs.columns = 7;
    await nextTick();
    expect(JSON.parse(saved["hikaze.prefs"] ?? "{}")).toMatchObject({ columns: 7 });
  });
});
