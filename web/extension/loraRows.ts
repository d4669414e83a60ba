/**
 * What the LoRA loader node does to its list document: each row edit returns a new document, which the node writes
 * back into its `hikaze_payload` widget. The parser is the picker's own, so the node and the picker read a payload
 * the same way (aliases, rgthree rows, entries without sha256 kept).
 */
import { moveAt, parseLoraPayload, type LoraDocument, type LoraEntry } from "../src/logic/loraList";

export type { LoraDocument, LoraEntry };

export type Parsed = { doc: LoraDocument; error: null } | { doc: null; error: string };

/** The two layouts of rgthree's "Show Strengths" node property, with its own wording. */
export const SHOW_STRENGTHS = "Show Strengths";
export const SEPARATE = "Separate Model & Clip";
export const SINGLE = "Single Strength";
export const STRENGTH_MODES = [SEPARATE, SINGLE] as const;
export type StrengthMode = (typeof STRENGTH_MODES)[number];

export function strengthMode(value: unknown, fallback: StrengthMode = SEPARATE): StrengthMode {
  return value === SINGLE || value === SEPARATE ? value : fallback;
}

export function readDocument(text: unknown): Parsed {
  try {
    return { doc: parseLoraPayload(typeof text === "string" ? text : ""), error: null };
  } catch (err) {
    return { doc: null, error: err instanceof Error ? err.message : String(err) };
  }
}

export function writeDocument(doc: LoraDocument): string {
  return JSON.stringify(doc, null, 2);
}

/** What the row shows: the entry's name, as the hover card and the picker do; without one, the file's name
 * without folder and extension (a hand-written or an rgthree row). */
export function displayName(entry: LoraEntry): string {
  const name = entry.name.trim();
  // An rgthree row's `lora` is read as both name and path: that is a file, not a name someone gave.
  if (name && name !== entry.full_path) return name;
  const file = (entry.full_path || name).split(/[\\/]/).pop() ?? "";
  return file.replace(/\.[^.]+$/, "") || "(unnamed)";
}

function withEntry(doc: LoraDocument, index: number, change: (entry: LoraEntry) => LoraEntry): LoraDocument {
  const entry = doc.loras[index];
  if (!entry) return doc;
  const loras = [...doc.loras];
  loras[index] = change(entry);
  return { ...doc, loras };
}

export function setEnabled(doc: LoraDocument, index: number, enabled: boolean): LoraDocument {
  return withEntry(doc, index, (entry) => ({ ...entry, enabled }));
}

export function allEnabled(doc: LoraDocument): boolean {
  return doc.loras.length > 0 && doc.loras.every((entry) => entry.enabled);
}

/** rgthree's "Toggle All": everything on unless everything already is, then everything off. */
export function toggleAll(doc: LoraDocument): LoraDocument {
  const enabled = !allEnabled(doc);
  return { ...doc, loras: doc.loras.map((entry) => ({ ...entry, enabled })) };
}

export function moveEntry(doc: LoraDocument, index: number, by: -1 | 1): LoraDocument {
  const loras = moveAt(doc.loras, index, by);
  return loras === doc.loras ? doc : { ...doc, loras };
}

export function removeEntry(doc: LoraDocument, index: number): LoraDocument {
  return { ...doc, loras: doc.loras.filter((_, i) => i !== index) };
}

export type StrengthField = "model" | "clip" | "both";

/** A typed strength; text that is not a finite number changes nothing (the input shows the old value again). */
export function setStrength(doc: LoraDocument, index: number, field: StrengthField, raw: string): LoraDocument {
  const value = Number(raw.trim());
  if (!raw.trim() || !Number.isFinite(value)) return doc;
  // Spinner steps of 0.05 add binary noise (0.1 + 0.05 = 0.15000000000000002); the payload should read as typed.
  const clean = Math.round(value * 1e4) / 1e4;
  return withEntry(doc, index, (entry) => ({
    ...entry,
    strength_model: field === "clip" ? entry.strength_model : clean,
    strength_clip: field === "model" ? entry.strength_clip : clean,
  }));
}

/** One trigger word of a row, ticked (output by the node) or not. */
export interface WordToggle {
  word: string;
  on: boolean;
}

/** The row's words: the LoRA's own (`known`, from the daemon; null while unknown), then any ticked word the daemon
 * no longer lists, so that it can still be unticked. */
function rowWords(entry: LoraEntry, known: readonly string[] | null): string[] {
  const words = [...(known ?? [])];
  for (const word of entry.trigger_words ?? []) if (!words.includes(word)) words.push(word);
  return words;
}

export function wordToggles(entry: LoraEntry, known: readonly string[] | null): WordToggle[] {
  const ticked = entry.trigger_words;
  return rowWords(entry, known).map((word) => ({ word, on: ticked === undefined || ticked.includes(word) }));
}

/**
 * Ticks or unticks one word. The entry keeps the ticked words in the row's order; with every word of the LoRA
 * ticked the field goes, so the node outputs all of its words again, also those added in the manager later.
 */
export function setWord(
  doc: LoraDocument,
  index: number,
  word: string,
  on: boolean,
  known: readonly string[] | null,
): LoraDocument {
  return withEntry(doc, index, (entry) => {
    const words = rowWords(entry, known);
    const ticked = new Set(entry.trigger_words ?? words);
    if (on) ticked.add(word);
    else ticked.delete(word);
    const { trigger_words: _old, ...rest } = entry;
    const next = words.filter((w) => ticked.has(w));
    const everything = known !== null && next.length === known.length && known.every((w) => ticked.has(w));
    return everything ? rest : { ...rest, trigger_words: next };
  });
}

function sameLora(a: LoraEntry, b: LoraEntry): boolean {
  if (a.sha256 || b.sha256) return a.sha256 === b.sha256;
  return a.full_path === b.full_path && a.name === b.name;
}

/**
 * The picker's answer is the new list (its order, its members, its refreshed paths); an entry the node already
 * has keeps the node's strengths, on/off state and ticked words, so a round trip through the picker never resets
 * them.
 */
export function mergePicked(current: LoraDocument | null, picked: unknown): LoraDocument {
  const result = parseLoraPayload(JSON.stringify(picked));
  const previous = current?.loras ?? [];
  const loras = result.loras.map((entry) => {
    const old = previous.find((candidate) => sameLora(candidate, entry));
    if (!old) return entry;
    const { trigger_words: _picked, ...rest } = entry;
    const kept = { ...rest, strength_model: old.strength_model, strength_clip: old.strength_clip, enabled: old.enabled };
    return old.trigger_words ? { ...kept, trigger_words: old.trigger_words } : kept;
  });
  return { version: result.version, loras };
}
