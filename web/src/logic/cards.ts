// What a card's menu copies and how the library's sort runs: kept apart from the components so they are testable.
import type { ModelListItem, SortKey } from "../api/types";

export type SortDir = "asc" | "desc";

/** The direction a sort runs in unless the URL says otherwise (the daemon's default): names A to Z, the rest
 *  newest or largest first. */
export function naturalDir(key: SortKey): SortDir {
  return key === "name" ? "asc" : "desc";
}

/** The `dir` the URL asks for, or the sort's natural one when it names none (or nonsense). */
export function sortDir(key: SortKey, raw: string): SortDir {
  return raw === "asc" || raw === "desc" ? raw : naturalDir(key);
}

/** The URL change for clicking a sortable column: the same key flips its direction, another starts at its own.
 *  The natural direction is left out of the URL (`dir` empty), so a shared link stays short. */
export function sortClick(current: SortKey, dir: SortDir, clicked: SortKey): { sort: string; dir: string } {
  const next = clicked === current ? (dir === "asc" ? "desc" : "asc") : naturalDir(clicked);
  return { sort: clicked === "name" ? "" : clicked, dir: next === naturalDir(clicked) ? "" : next };
}

export function isLora(item: Pick<ModelListItem, "type">): boolean {
  return item.type.toLowerCase().startsWith("lora");
}

/** The prompt tag ComfyUI's prompt extensions and A1111 read: the file name without its extension. */
export function loraTag(item: Pick<ModelListItem, "file_name">, strength = 1): string {
  const stem = item.file_name.replace(/\.[^.]+$/, "");
  return `<lora:${stem}:${strength.toFixed(1)}>`;
}

/** Trigger words as a prompt takes them. */
export function triggerText(words: readonly string[]): string {
  return words.join(", ");
}

/** Whether a model counts as NSFW for hiding or blurring: its flag, or a tag named `nsfw` (as the daemon's filter). */
export function isNsfw(item: Pick<ModelListItem, "nsfw" | "tags">): boolean {
  return item.nsfw || item.tags.some((t) => t.toLowerCase() === "nsfw");
}
