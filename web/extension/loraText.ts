/**
 * The LoRA loader's `lora_text`, read as the node reads it (nodes/lora_text.py): `<lora:name>`, `<lora:name:0.8>` or
 * `<lora:name:0.8:0.5>` entries in any text. Only what the node would accept is read here; a rewrite of a text the
 * node would refuse could not be checked against what the node loads, so such a text is reported unreadable.
 */

const OPEN = /<lora:/gi;
const OPEN_LENGTH = "<lora:".length;
// What Python's float() takes and JavaScript's Number() reads the same way; anything else is left to the node to
// judge (Number("") is 0 and Number("0x1") is 1 where float() refuses both).
const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

export interface TextEntry {
  /** The entry as written, `<lora:...>`. */
  written: string;
  name: string;
  /** Where the name (without the blanks around it) sits in the whole text. */
  nameStart: number;
  nameEnd: number;
}

export type ReadText = { entries: TextEntry[] } | { unreadable: string };

function readableStrength(raw: string): boolean {
  const trimmed = raw.trim();
  return DECIMAL.test(trimmed) && Number.isFinite(Number(trimmed));
}

/** Every entry in text order, or the first one the node would refuse (as written, for the report). */
export function readLoraText(text: string): ReadText {
  const starts = [...text.matchAll(OPEN)].map((m) => m.index);
  const entries: TextEntry[] = [];
  for (const [i, start] of starts.entries()) {
    const following = starts[i + 1] ?? text.length;
    const end = text.indexOf(">", start);
    if (end < 0 || end >= following) return { unreadable: text.slice(start, following).trimEnd() };
    const written = text.slice(start, end + 1);
    const fields = text.slice(start + OPEN_LENGTH, end).split(":");
    const first = fields[0] ?? "";
    const name = first.trim();
    if (!name || fields.length > 3 || !fields.slice(1).every(readableStrength)) return { unreadable: written };
    const nameStart = start + OPEN_LENGTH + (first.length - first.trimStart().length);
    entries.push({ written, name, nameStart, nameEnd: nameStart + name.length });
  }
  return { entries };
}

/** Whether a name can stand in an entry and be read back as itself. */
export function fitsEntry(name: string): boolean {
  return name !== "" && name.trim() === name && !/[:<>]/.test(name);
}
