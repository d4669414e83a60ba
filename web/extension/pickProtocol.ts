/** The conversation with the manager's picker page, and the checkpoint payload it produces. */

export const DEFAULT_DAEMON_URL = "http://127.0.0.1:8789";

export type PickKind = "checkpoint" | "loras";

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
  if (!isRecord(data) || data.type !== "hikaze-pick") return null;
  return { result: data.result ?? null };
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
