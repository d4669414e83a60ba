/**
 * A LoRA's trigger words for the toggles of its row. ComfyUI's server answers (same origin: the daemon sends no CORS
 * headers) by asking the daemon, by the entry's sha256 or else by the file the node would load. Rows ask when they
 * are drawn, which is often, so an answer is kept for a while.
 */
import { isSha256 } from "../src/logic/pickProtocol";
import { comfyRoute } from "./daemon";
import type { LoraEntry } from "./loraRows";

const FRESH_MS = 30_000;

interface Answer {
  at: number;
  /** null: not known (yet), or the daemon did not answer. */
  words: string[] | null;
  pending: Promise<string[] | null> | null;
}

const answers = new Map<string, Answer>();

function query(entry: LoraEntry): string | null {
  if (isSha256(entry.sha256)) return `sha256=${entry.sha256}`;
  const path = entry.full_path || entry.name;
  return path ? `path=${encodeURIComponent(path)}` : null;
}

async function ask(q: string): Promise<string[] | null> {
  try {
    const response = await fetch(comfyRoute(`/hikaze/lora/trigger-words?${q}`), { cache: "no-store" });
    if (!response.ok) return null;
    const body = (await response.json()) as { words?: unknown; reachable?: unknown };
    if (body.reachable !== true || !Array.isArray(body.words)) return null;
    return body.words.filter((word): word is string => typeof word === "string");
  } catch {
    return null;
  }
}

/** The words last heard for the entry's LoRA; null when none were heard. */
export function knownWords(entry: LoraEntry): string[] | null {
  const q = query(entry);
  return q ? (answers.get(q)?.words ?? null) : null;
}

/** Asks again unless a fresh answer is kept; resolves to the words, or null when they cannot be known. */
export function loadWords(entry: LoraEntry): Promise<string[] | null> {
  const q = query(entry);
  if (!q) return Promise.resolve(null);
  const kept = answers.get(q);
  if (kept?.pending) return kept.pending;
  if (kept && Date.now() - kept.at < FRESH_MS) return Promise.resolve(kept.words);
  const pending = ask(q).then((words) => {
    answers.set(q, { at: Date.now(), words: words ?? kept?.words ?? null, pending: null });
    return words;
  });
  answers.set(q, { at: kept?.at ?? 0, words: kept?.words ?? null, pending });
  return pending;
}
