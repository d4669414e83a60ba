import { describe, expect, it } from "vitest";
import {
  SEPARATE,
  SINGLE,
  allEnabled,
  displayName,
  mergePicked,
  moveEntry,
  readDocument,
  removeEntry,
  setEnabled,
  setStrength,
  setWord,
  strengthMode,
  toggleAll,
  wordToggles,
  writeDocument,
  type LoraDocument,
  type LoraEntry,
} from "./loraRows";

const A = "a".repeat(64);
const B = "b".repeat(64);

function entry(name: string, sha256: string, extra: Partial<LoraEntry> = {}): LoraEntry {
  return {
    name,
    full_path: `/models/loras/style/${name}.safetensors`,
    sha256,
    strength_model: 1,
    strength_clip: 1,
    enabled: true,
    ...extra,
  };
}

const doc: LoraDocument = {
  version: 2,
  loras: [
    entry("detail", A, { strength_model: 0.4, strength_clip: 0.7, enabled: false }),
    entry("typed", "", { full_path: "C:\\loras\\typed.pt" }),
    entry("light", B),
  ],
};

describe("reading and writing the document", () => {
  it("round-trips through the widget text with 2-space indentation", () => {
    const text = writeDocument(doc);
    expect(text).toBe(JSON.stringify(doc, null, 2));
    expect(readDocument(text)).toEqual({ doc, error: null });
  });

  it("reads an empty payload as an empty list and reports broken text instead of throwing", () => {
    expect(readDocument("")).toEqual({ doc: { version: 2, loras: [] }, error: null });
    expect(readDocument(undefined).doc?.loras).toEqual([]);
    const broken = readDocument('{"loras": [');
    expect(broken.doc).toBeNull();
    expect(broken.error).toBeTruthy();
    expect(readDocument('{"loras": [{"name": "x", "strength_model": "lots"}]}').error).toBe(
      "LoRA 1 strength_model is not a number",
    );
  });

  it("reads rgthree rows and aliases like the picker does", () => {
    const parsed = readDocument(JSON.stringify([{ on: false, lora: "a/b.safetensors", strength: 0.5 }]));
    expect(parsed.doc?.loras[0]).toMatchObject({ full_path: "a/b.safetensors", strength_clip: 0.5, enabled: false });
  });

  it("shows the entry's name, as the hover card and the picker do", () => {
    expect(displayName(entry("Detail Tweaker XL", A, { full_path: "/m/loras/add-detail-xl.safetensors" }))).toBe(
      "Detail Tweaker XL",
    );
    expect(doc.loras.map(displayName)).toEqual(["detail", "typed", "light"]);
    expect(displayName(entry("only-name", "", { full_path: "" }))).toBe("only-name");
  });

  it("shows the file name without folder and extension when there is no name, Windows paths too", () => {
    expect(displayName(entry("", "", { full_path: "C:\\loras\\typed.pt" }))).toBe("typed");
    const rgthree = readDocument(JSON.stringify([{ lora: "people/hero.safetensors", strength: 1 }])).doc!;
    expect(displayName(rgthree.loras[0]!)).toBe("hero");
    expect(displayName(entry("", "", { full_path: "" }))).toBe("(unnamed)");
  });
});

describe("row edits", () => {
  it("toggles one row and all rows the rgthree way", () => {
    expect(setEnabled(doc, 0, true).loras[0]?.enabled).toBe(true);
    expect(setEnabled(doc, 9, true)).toBe(doc);
    expect(allEnabled(doc)).toBe(false);
    const on = toggleAll(doc);
    expect(on.loras.every((e) => e.enabled)).toBe(true);
    expect(toggleAll(on).loras.every((e) => !e.enabled)).toBe(true);
    expect(doc.loras[0]?.enabled).toBe(false);
  });

  it("moves within bounds and removes", () => {
    expect(moveEntry(doc, 0, 1).loras.map((e) => e.name)).toEqual(["typed", "detail", "light"]);
    expect(moveEntry(doc, 2, -1).loras.map((e) => e.name)).toEqual(["detail", "light", "typed"]);
    expect(moveEntry(doc, 0, -1)).toBe(doc);
    expect(moveEntry(doc, 2, 1)).toBe(doc);
    expect(removeEntry(doc, 1).loras.map((e) => e.name)).toEqual(["detail", "light"]);
  });

  it("sets model, clip or both strengths and ignores text that is no number", () => {
    expect(setStrength(doc, 0, "model", "0.85").loras[0]).toMatchObject({ strength_model: 0.85, strength_clip: 0.7 });
    expect(setStrength(doc, 0, "clip", "-1.5").loras[0]).toMatchObject({ strength_model: 0.4, strength_clip: -1.5 });
    expect(setStrength(doc, 0, "both", "0.15000000000000002").loras[0]).toMatchObject({
      strength_model: 0.15,
      strength_clip: 0.15,
    });
    expect(setStrength(doc, 0, "model", "")).toBe(doc);
    expect(setStrength(doc, 0, "model", "abc")).toBe(doc);
  });

  it("knows rgthree's two strength layouts", () => {
    expect(strengthMode(SINGLE)).toBe(SINGLE);
    expect(strengthMode("nonsense")).toBe(SEPARATE);
    expect(strengthMode(undefined, SINGLE)).toBe(SINGLE);
  });
});

describe("trigger word toggles", () => {
  const known = ["hero", "cape", "mask"];
  const words = (d: LoraDocument, i = 2) => d.loras[i]?.trigger_words;

  it("shows every word ticked while the entry has no list, as the node then outputs them all", () => {
    expect(wordToggles(doc.loras[2]!, known)).toEqual([
      { word: "hero", on: true },
      { word: "cape", on: true },
      { word: "mask", on: true },
    ]);
    expect(wordToggles(doc.loras[2]!, null)).toEqual([]);
  });

  it("writes the ticked words in the LoRA's order when one is unticked, and ticks them back", () => {
    const one = setWord(doc, 2, "cape", false, known);
    expect(words(one)).toEqual(["hero", "mask"]);
    const two = setWord(one, 2, "hero", false, known);
    expect(words(two)).toEqual(["mask"]);
    expect(wordToggles(two.loras[2]!, known).map((t) => t.on)).toEqual([false, false, true]);
    const none = setWord(two, 2, "mask", false, known);
    expect(words(none)).toEqual([]); // none ticked is not "all": the list stays, empty
    expect(words(setWord(none, 2, "cape", true, known))).toEqual(["cape"]);
    expect(words(setWord(two, 2, "hero", true, known))).toEqual(["hero", "mask"]);
    expect(doc.loras[2]).not.toHaveProperty("trigger_words"); // edits return a new document
    expect(one.loras[0]).toBe(doc.loras[0]);
  });

  it("drops the list when every word is ticked again, so words added in the manager later are output too", () => {
    const back = setWord(setWord(doc, 2, "cape", false, known), 2, "cape", true, known);
    expect(back.loras[2]).not.toHaveProperty("trigger_words");
    expect(back.loras[2]).toEqual(doc.loras[2]);
    expect(writeDocument(back)).toBe(writeDocument(doc));
  });

  it("keeps a ticked word the daemon no longer lists, and never reads a list as 'all' without the daemon", () => {
    const ticked = { ...doc, loras: [entry("light", B, { trigger_words: ["old word", "cape"] })] };
    expect(wordToggles(ticked.loras[0]!, known)).toEqual([
      { word: "hero", on: false },
      { word: "cape", on: true },
      { word: "mask", on: false },
      { word: "old word", on: true },
    ]);
    expect(words(setWord(ticked, 0, "old word", false, known), 0)).toEqual(["cape"]);
    // The daemon is down: only the ticked words are known, and unticking the last leaves an empty list.
    expect(wordToggles(ticked.loras[0]!, null).map((t) => t.word)).toEqual(["old word", "cape"]);
    const down = setWord(setWord(ticked, 0, "cape", false, null), 0, "old word", false, null);
    expect(words(down, 0)).toEqual([]);
  });

  it("saves the ticked words with the payload and reads them back; a list of anything else is refused", () => {
    const saved = writeDocument(setWord(doc, 2, "mask", false, known));
    expect(JSON.parse(saved).loras[2].trigger_words).toEqual(["hero", "cape"]);
    expect(readDocument(saved).doc?.loras[2]?.trigger_words).toEqual(["hero", "cape"]);
    expect(readDocument('{"loras": [{"name": "x", "trigger_words": [" a ", "", "b"]}]}').doc?.loras[0]).toMatchObject(
      { trigger_words: ["a", "b"] },
    );
    expect(readDocument('{"loras": [{"name": "x", "trigger_words": null}]}').doc?.loras[0]).not.toHaveProperty(
      "trigger_words",
    );
    expect(readDocument('{"loras": [{"name": "x", "trigger_words": "a, b"}]}').error).toBe(
      "LoRA 1 trigger_words is not a list of words",
    );
    expect(readDocument('{"loras": [{"name": "x", "trigger_words": [1]}]}').error).toBe(
      "LoRA 1 trigger_words is not a list of words",
    );
  });
});

describe("merging the picker's answer", () => {
  it("keeps the node's strengths and state, takes the picker's order, members and paths, adds new ones at 1.0", () => {
    const picked = {
      version: 2,
      loras: [
        { ...entry("light", B), full_path: "/moved/light.safetensors" },
        { ...doc.loras[0], strength_model: 1, strength_clip: 1, enabled: true },
        doc.loras[1],
        { name: "new", full_path: "/m/new.safetensors", sha256: "c".repeat(64), strength_model: 1, strength_clip: 1,
          enabled: true },
      ],
    };
    const current = setStrength(doc, 2, "model", "0.3");
    const merged = mergePicked(current, picked);
    expect(merged.loras.map((e) => e.name)).toEqual(["light", "detail", "typed", "new"]);
    expect(merged.loras[0]).toMatchObject({ full_path: "/moved/light.safetensors", strength_model: 0.3 });
    expect(merged.loras[1]).toMatchObject({ strength_model: 0.4, strength_clip: 0.7, enabled: false });
    expect(merged.loras[2]).toEqual(doc.loras[1]);
    expect(merged.loras[3]).toMatchObject({ strength_model: 1, strength_clip: 1, enabled: true });
  });

  it("keeps the node's ticked words, and takes none from the answer for an entry the node has no list for", () => {
    const current = setWord(doc, 2, "cape", false, ["hero", "cape"]);
    const picked = { loras: [{ ...doc.loras[2], trigger_words: ["stale"] }, { ...doc.loras[0], trigger_words: ["x"] }] };
    const merged = mergePicked(current, picked);
    expect(merged.loras[0]?.trigger_words).toEqual(["hero"]);
    expect(merged.loras[1]).not.toHaveProperty("trigger_words");
  });

  it("drops what the user removed in the picker and works without a current list", () => {
    expect(mergePicked(doc, { version: 2, loras: [doc.loras[2]] }).loras).toEqual([doc.loras[2]]);
    expect(mergePicked(null, { loras: [entry("x", A)] }).loras[0]?.name).toBe("x");
  });

  it("rejects an answer that is no LoRA list", () => {
    expect(() => mergePicked(doc, "nope")).toThrow();
    expect(() => mergePicked(doc, { loras: "nope" })).toThrow("`loras` is not a list");
  });
});
