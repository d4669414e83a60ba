import { describe, expect, it } from "vitest";
import { reactive } from "vue";
import {
  addPick,
  buildLoraDocument,
  itemsFromDocument,
  movePick,
  parseLoraPayload,
  removePick,
  replyOrigin,
  type PickedModel,
} from "./loraList";

const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);

const payload = JSON.stringify({
  version: 2,
  loras: [
    { name: "detail", full_path: "/m/loras/detail.safetensors", sha256: A, strength_model: 0.4, strength_clip: 0.7, enabled: false },
    { name: "hand-typed", full_path: "/m/loras/old.safetensors", sha256: "", strength_model: 0.9, strength_clip: 0.9, enabled: true },
  ],
});

describe("parseLoraPayload", () => {
  it("reads the document, aliases, a bare list and rgthree rows", () => {
    expect(parseLoraPayload(payload).loras).toHaveLength(2);
    expect(parseLoraPayload(JSON.stringify({ LoRAs: [{ name: "x" }] })).loras[0]?.strength_model).toBe(1);
    expect(parseLoraPayload(JSON.stringify({ LoRAList: [{ name: "x", enabled: false }] })).loras[0]?.enabled).toBe(false);
    expect(parseLoraPayload(JSON.stringify([{ name: "x", strength_clip: "0.5" }])).loras[0]?.strength_clip).toBe(0.5);
    const rg = parseLoraPayload(JSON.stringify([{ on: false, lora: "a/b.safetensors", strength: 0.6 }])).loras[0];
    expect(rg).toMatchObject({ full_path: "a/b.safetensors", strength_model: 0.6, strength_clip: 0.6, enabled: false });
  });

  it("treats an empty payload as an empty list", () => {
    expect(parseLoraPayload("").loras).toEqual([]);
    expect(parseLoraPayload(null).loras).toEqual([]);
  });

  it("names the entry and field that is wrong", () => {
    expect(() => parseLoraPayload(JSON.stringify({ loras: [{ name: "x" }, { strength_model: "lots" }] }))).toThrow(
      "LoRA 2 strength_model is not a number",
    );
    expect(() => parseLoraPayload(JSON.stringify({ loras: 3 }))).toThrow("`loras` is not a list");
    expect(() => parseLoraPayload("7")).toThrow();
    expect(() => parseLoraPayload("{nope")).toThrow();
  });
});

describe("the picker's merge", () => {
  const known = new Map<string, PickedModel>([
    [A, { sha256: A, name: "Detail", path: "/m/loras/moved/detail.safetensors" }],
  ]);
  const newModel: PickedModel = { sha256: B, name: "Style", path: "/m/loras/style.safetensors" };

  it("keeps strengths and enabled of entries that came with the payload, and entries without a sha256", () => {
    const items = addPick(itemsFromDocument(parseLoraPayload(payload)), newModel);
    const doc = buildLoraDocument(2, items, known);
    expect(doc.version).toBe(2);
    expect(doc.loras).toEqual([
      { name: "detail", full_path: "/m/loras/moved/detail.safetensors", sha256: A, strength_model: 0.4, strength_clip: 0.7, enabled: false },
      { name: "hand-typed", full_path: "/m/loras/old.safetensors", sha256: "", strength_model: 0.9, strength_clip: 0.9, enabled: true },
      { name: "Style", full_path: "/m/loras/style.safetensors", sha256: B, strength_model: 1, strength_clip: 1, enabled: true },
    ]);
  });

  it("carries an entry's ticked trigger words through the picker untouched", () => {
    const ticked = JSON.stringify({ loras: [{ name: "detail", sha256: A, trigger_words: ["cape", "hero"] }] });
    const doc = buildLoraDocument(2, itemsFromDocument(parseLoraPayload(ticked)), known);
    expect(doc.loras[0]).toMatchObject({ full_path: "/m/loras/moved/detail.safetensors", trigger_words: ["cape", "hero"] });
    // The picker keeps its items reactive; its answer goes through postMessage, which clones no proxy.
    const answer = buildLoraDocument(2, reactive(itemsFromDocument(parseLoraPayload(ticked))), new Map());
    expect(structuredClone(answer).loras[0]?.trigger_words).toEqual(["cape", "hero"]);
    expect(() => parseLoraPayload(JSON.stringify([{ name: "x", trigger_words: {} }]))).toThrow(
      "LoRA 1 trigger_words is not a list of words",
    );
  });

  it("does not add a model twice, and collapses duplicate sha256 entries to the first", () => {
    const doubled = JSON.stringify([{ sha256: A, strength_model: 0.1 }, { sha256: A, strength_model: 0.2 }]);
    let items = itemsFromDocument(parseLoraPayload(doubled));
    expect(items).toHaveLength(1);
    items = addPick(items, { sha256: A, name: "Detail", path: "/x" });
    expect(items).toHaveLength(1);
    expect(buildLoraDocument(2, items, new Map()).loras[0]?.strength_model).toBe(0.1);
  });

  it("removes and reorders", () => {
    let items = addPick(addPick([], newModel), { sha256: C, name: "C", path: "/c" });
    items = movePick(items, C, -1);
    expect(items.map((i) => i.key)).toEqual([C, B]);
    expect(movePick(items, C, -1)).toBe(items);
    items = removePick(items, C);
    expect(items.map((i) => i.key)).toEqual([B]);
  });
});

describe("replyOrigin", () => {
  it("prefers the named origin, falls back to the referrer, and never answers *", () => {
    expect(replyOrigin("http://127.0.0.1:8188", "http://evil.test/")).toBe("http://127.0.0.1:8188");
    expect(replyOrigin("", "http://127.0.0.1:8188/some/page?x=1")).toBe("http://127.0.0.1:8188");
    expect(replyOrigin("*", "")).toBeNull();
    expect(replyOrigin("javascript:alert(1)", "")).toBeNull();
    expect(replyOrigin("", "")).toBeNull();
  });
});
