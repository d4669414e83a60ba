import type { ImageTier } from "../api/types";

/**
 * The conversation between the manager's picker page and the ComfyUI extension that opens it, shared by both so
 * the two cannot drift: the picker's address, the message it answers with, the checkpoint answer, and the image
 * addresses both load from the daemon. (The LoRA list document is in loraList.ts.)
 */

export const DEFAULT_DAEMON_URL = "http://127.0.0.1:8789";

export const PICK_KINDS = ["checkpoint", "loras"] as const;
export type PickKind = (typeof PICK_KINDS)[number];

/** The `type` of the picker's `postMessage` answer. */
export const PICK_MESSAGE = "hikaze-pick";

/** A model's id: the SHA-256 of its file, as the daemon writes it. */
const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(value: unknown): value is string {
  return typeof value === "string" && SHA256.test(value);
}

/** One of a model's images, same-origin on the page. */
export function imageUrl(sha256: string, seq: number, tier: ImageTier): string {
  return `/api/images/${sha256}/${seq}/${tier}`;
}

/** A model's cover at the daemon's address: an <img> on ComfyUI's origin loads it without CORS. */
export function coverUrl(daemonUrl: string, sha256: string, tier: ImageTier): string {
  return `${daemonUrl}/api/models/${sha256}/cover/${tier}`;
}

/** The kind of pick the page was opened for (`?pick=`), or null when it is the plain manager. */
export function pickKind(raw: string): PickKind | null {
  return (PICK_KINDS as readonly string[]).includes(raw) ? (raw as PickKind) : null;
}

export interface CheckpointPayload {
  ckpt_path: string;
  sha256: string;
  name: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The daemon's base URL from the setting: scheme added when missing, no trailing slash; null when unusable. */
export function normalizeDaemonUrl(raw: unknown): string | null {
  const text = typeof raw === "string" ? raw.trim() : "";
  if (!text) return null;
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  } catch {
    return null;
  }
}

export function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

// The daemon reads the payload from the query string, whose request line aiohttp caps at 8 KiB: the characters a
// query may carry as they are stay unescaped, which keeps a list of long paths well inside that cap.
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%2F/g, "/").replace(/%3A/g, ":").replace(/%2C/g, ",");
}

/** The picker's address; the origin tells the page where its answer may go (it never posts to `*`). */
export function pickerUrl(daemonUrl: string, kind: PickKind, origin: string, payload?: string): string {
  let query = `pick=${kind}`;
  if (payload !== undefined) query += `&payload=${encodeQueryValue(payload)}`;
  return `${daemonUrl}/?${query}&origin=${encodeQueryValue(origin)}`;
}

export interface PickAnswer {
  result: unknown;
}

/** What the picker posts: its answer, null when the user cancelled. */
export function pickMessage(result: unknown): { type: typeof PICK_MESSAGE; result: unknown } {
  return { type: PICK_MESSAGE, result };
}

/**
 * A `message` event is the picker's answer only if it comes from the daemon's origin, from the frame we opened, and
 * has the picker's shape; anything else (another frame, another site, another extension) is ignored.
 */
export function pickAnswer(
  event: { origin: string; source: unknown; data: unknown },
  daemonOrigin: string,
  frame: unknown,
): PickAnswer | null {
  if (event.origin !== daemonOrigin || !frame || event.source !== frame) return null;
  const data = event.data;
  if (!isRecord(data) || data.type !== PICK_MESSAGE) return null;
  return { result: data.result ?? null };
}

/** The picker's answer for a checkpoint: the model the user chose. */
export function checkpointAnswer(model: { path: string; sha256: string; name: string }): CheckpointPayload {
  return { ckpt_path: model.path, sha256: model.sha256, name: model.name };
}

/** A checkpoint picked in the manager, checked before it goes into the node. */
export function checkpointFromPick(result: unknown): CheckpointPayload {
  if (!isRecord(result) || typeof result.ckpt_path !== "string" || !result.ckpt_path) {
    throw new Error("the picker sent no checkpoint path");
  }
  return {
    ckpt_path: result.ckpt_path,
    sha256: typeof result.sha256 === "string" ? result.sha256.toLowerCase() : "",
    name: typeof result.name === "string" ? result.name : "",
  };
}

/** What the checkpoint node shows: the picked model's name, else its file name; an empty path is no choice yet. */
export function describeCheckpoint(text: unknown): { label: string | null; error: string | null } {
  const raw = typeof text === "string" ? text.trim() : "";
  if (!raw) return { label: null, error: null };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return { label: null, error: err instanceof Error ? err.message : String(err) };
  }
  if (!isRecord(data)) return { label: null, error: "the payload is not a JSON object" };
  if (data.ckpt_path !== undefined && typeof data.ckpt_path !== "string") {
    return { label: null, error: "`ckpt_path` is not a string" };
  }
  const path = typeof data.ckpt_path === "string" ? data.ckpt_path : "";
  if (!path) return { label: null, error: null };
  const name = typeof data.name === "string" && data.name ? data.name : (path.split(/[\\/]/).pop() ?? path);
  return { label: name, error: null };
}

export function writeCheckpoint(payload: CheckpointPayload): string {
  return JSON.stringify(payload, null, 2);
}
