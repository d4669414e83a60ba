import { createPinia, setActivePinia } from "pinia";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { ModelDetail, ModelListItem } from "../api/types";
import { router } from "../router";
import { deferred, settle } from "../testing/deferred";
import { usePickerStore } from "./picker";
import { useUiStore } from "./ui";

const api = vi.hoisted(() => ({ model: vi.fn(), pickerOriginCheck: vi.fn() }));
vi.mock("../api/client", async (original) => ({ ...(await original<object>()), api }));
vi.mock("../i18n", () => ({ i18n: { global: { t: (key: string) => key } } }));
// The page's router, kept in memory instead of the address bar.
vi.mock("vue-router", async (original) => {
  const router = await original<typeof import("vue-router")>();
  return { ...router, createWebHistory: router.createMemoryHistory };
});

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);

function model(sha256: string): ModelDetail {
  return { sha256, name: sha256.slice(0, 1), path: `/m/${sha256.slice(0, 1)}`, cover: null } as unknown as ModelDetail;
}

function item(sha256: string): ModelListItem {
  return { sha256 } as ModelListItem;
}

const posted: { message: unknown; origin: string }[] = [];

beforeEach(() => {
  setActivePinia(createPinia());
  api.model.mockReset().mockImplementation((sha: string) => Promise.resolve(model(sha)));
  api.pickerOriginCheck.mockReset().mockResolvedValue({ allowed: true });
  posted.length = 0;
  const opener = { postMessage: (message: unknown, origin: string) => posted.push({ message, origin }) };
  vi.stubGlobal("window", { opener, parent: null });
  vi.stubGlobal("document", { referrer: "" });
});

describe("the picker store", () => {
  it("replaces the checkpoint and answers with its path once the daemon allowed the opener's origin", async () => {
    await router.push({ query: { pick: "checkpoint", origin: "http://127.0.0.1:8188" } });
    const picker = usePickerStore();
    const check = deferred<{ allowed: boolean }>();
    api.pickerOriginCheck.mockReturnValueOnce(check.promise);
    picker.startPicker();
    await picker.pick(item(SHA_A));
    await picker.pick(item(SHA_B));
    expect(picker.picks.map((p) => p.key)).toEqual([SHA_B]);
    expect(picker.isPicked(SHA_A)).toBe(false);

    // Confirmed before the daemon answered: the answer waits for it.
    const sent = picker.sendPick(true);
    await settle();
    expect(posted).toEqual([]);
    check.resolve({ allowed: true });
    expect(await sent).toBe(true);
    expect(posted).toEqual([
      {
        message: { type: "hikaze-pick", result: { ckpt_path: "/m/b", sha256: SHA_B, name: "b" } },
        origin: "http://127.0.0.1:8188",
      },
    ]);
  });

  it("adds LoRAs to the payload's list and refuses to answer an origin the daemon does not trust", async () => {
    const payload = JSON.stringify({
      version: 2,
      loras: [{ name: "old", full_path: "/old", sha256: SHA_A, strength_model: 1, strength_clip: 1, enabled: true }],
    });
    await router.push({ query: { pick: "loras", origin: "http://evil.example", payload } });
    api.pickerOriginCheck.mockResolvedValueOnce({ allowed: false });
    const picker = usePickerStore();
    picker.startPicker();
    await settle();
    expect(picker.pickLabel(picker.picks[0]!)).toBe("a");
    await picker.pick(item(SHA_B));
    expect(picker.picks.map((p) => p.key)).toEqual([SHA_A, SHA_B]);
    expect(await picker.sendPick(true)).toBe(false);
    expect(posted).toEqual([]);
    expect(useUiStore().toasts.map((t) => t.text)).toEqual(["picker.originRefused"]);
  });
});
