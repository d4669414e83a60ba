/**
 * The LoRA list document the ComfyUI LoRA loader node keeps in its `hikaze_payload` widget, and how the picker
 * merges the user's choice into it.
 */

export interface LoraEntry {
  name: string;
  full_path: string;
  sha256: string;
  strength_model: number;
  strength_clip: number;
  enabled: boolean;
  /** The words the user ticked, in order; absent: all of the LoRA's trigger words go to the node's output. */
  trigger_words?: string[];
}

export interface LoraDocument {
  version: number;
  loras: LoraEntry[];
}

export interface PickedModel {
  sha256: string;
  name: string;
  path: string;
  cover?: string;
}

/** One card of the picker's selection bar: an entry that came with the payload, or a model picked now. */
export interface PickItem {
  key: string;
  entry: LoraEntry | null;
  model: PickedModel | null;
}

export const DOCUMENT_VERSION = 2;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function num(value: unknown, fallback: number, where: string): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new Error(`${where} is not a number`);
  return n;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Reads one entry in our shape or as an rgthree Power Lora Loader row (`on`, `lora`, `strength`, `strengthTwo`). */
function readEntry(raw: unknown, index: number): LoraEntry {
  const where = `LoRA ${index + 1}`;
  if (!isRecord(raw)) throw new Error(`${where} is not an object`);
  if ("lora" in raw && !("full_path" in raw) && !("name" in raw)) {
    const strength = num(raw.strength, 1, `${where} strength`);
    return {
      name: text(raw.lora),
      full_path: text(raw.lora),
      sha256: "",
      strength_model: strength,
      strength_clip: num(raw.strengthTwo, strength, `${where} strengthTwo`),
      enabled: raw.on !== false,
    };
  }
  const entry: LoraEntry = {
    name: text(raw.name),
    full_path: text(raw.full_path),
    sha256: text(raw.sha256).toLowerCase(),
    strength_model: num(raw.strength_model, 1, `${where} strength_model`),
    strength_clip: num(raw.strength_clip, 1, `${where} strength_clip`),
    enabled: raw.enabled !== false,
  };
  const ticked = words(raw.trigger_words, `${where} trigger_words`);
  if (ticked) entry.trigger_words = ticked;
  return entry;
}

/** The ticked words as the node reads them (strings, trimmed, blanks dropped); null or absent means "all". */
function words(value: unknown, where: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((word) => typeof word === "string")) {
    throw new Error(`${where} is not a list of words`);
  }
  return (value as string[]).map((word) => word.trim()).filter(Boolean);
}

/** Parses the node's payload; an empty payload is an empty list. Throws with a message naming what is wrong. */
export function parseLoraPayload(payload: string | null | undefined): LoraDocument {
  if (!payload || !payload.trim()) return { version: DOCUMENT_VERSION, loras: [] };
  const data: unknown = JSON.parse(payload);
  let list: unknown;
  let version = DOCUMENT_VERSION;
  if (Array.isArray(data)) {
    list = data;
  } else if (isRecord(data)) {
    list = data.loras ?? data.LoRAs ?? data.LoRAList ?? [];
    if (typeof data.version === "number") version = data.version;
  } else {
    throw new Error("the payload is neither a LoRA list document nor a list");
  }
  if (!Array.isArray(list)) throw new Error("`loras` is not a list");
  return { version, loras: list.map(readEntry) };
}

/** The selection bar's starting cards: every entry of the payload, those without a sha256 included. */
export function itemsFromDocument(doc: LoraDocument): PickItem[] {
  const seen = new Set<string>();
  const items: PickItem[] = [];
  doc.loras.forEach((entry, i) => {
    if (entry.sha256) {
      if (seen.has(entry.sha256)) return;
      seen.add(entry.sha256);
    }
    items.push({ key: entry.sha256 || `entry-${i}`, entry, model: null });
  });
  return items;
}

/** Adds a picked model at the end unless it is already selected; returns the new list. */
export function addPick(items: PickItem[], model: PickedModel): PickItem[] {
  if (items.some((item) => item.key === model.sha256)) return items;
  return [...items, { key: model.sha256, entry: null, model }];
}

export function removePick(items: PickItem[], key: string): PickItem[] {
  return items.filter((item) => item.key !== key);
}

/** The list with the item at `from` moved one place earlier or later; the same list when it cannot move. */
export function moveAt<T>(items: T[], from: number, by: -1 | 1): T[] {
  const to = from + by;
  if (from < 0 || from >= items.length || to < 0 || to >= items.length) return items;
  const next = [...items];
  const [moved] = next.splice(from, 1);
  if (moved !== undefined) next.splice(to, 0, moved);
  return next;
}

export function movePick(items: PickItem[], key: string, by: -1 | 1): PickItem[] {
  return moveAt(items, items.findIndex((item) => item.key === key), by);
}

/**
 * The document sent back to the node: in the bar's order; entries from the payload keep their strengths and
 * enabled flag (a known model's path and name are refreshed, in case the file moved); new picks start at 1.0.
 */
export function buildLoraDocument(version: number, items: PickItem[], known: Map<string, PickedModel>): LoraDocument {
  const loras = items.map((item): LoraEntry => {
    if (item.entry) {
      const current = item.entry.sha256 ? known.get(item.entry.sha256) : undefined;
      const entry = current
        ? { ...item.entry, full_path: current.path, name: item.entry.name || current.name }
        : { ...item.entry };
      // The picker's items are reactive: a nested array would still be a proxy, which postMessage cannot clone.
      if (entry.trigger_words) entry.trigger_words = [...entry.trigger_words];
      return entry;
    }
    const model = item.model as PickedModel;
    return {
      name: model.name,
      full_path: model.path,
      sha256: model.sha256,
      strength_model: 1,
      strength_clip: 1,
      enabled: true,
    };
  });
  return { version: Math.max(version, DOCUMENT_VERSION), loras };
}

/** Where the picker's answer may go: the origin the caller named, else the page that opened us; never `*`. */
export function replyOrigin(originParam: string, referrer: string): string | null {
  for (const candidate of [originParam, referrer]) {
    if (!candidate) continue;
    try {
      const url = new URL(candidate);
      if (url.protocol === "http:" || url.protocol === "https:") return url.origin;
    } catch {
      // not a URL: try the next one
    }
  }
  return null;
}
