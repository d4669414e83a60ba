/**
 * Is the manager daemon up? ComfyUI's own server answers `GET /hikaze/daemon` (same origin, so no CORS); where that
 * route is missing, or it speaks of another address than the front end's setting, the browser knocks on the
 * daemon's `/api/health` itself.
 */
import { app } from "comfyui/app";
import { originOf } from "../src/logic/pickProtocol";
import { autostart, daemonUrl } from "./settings";

export interface DaemonStatus {
  url: string;
  /** null while the first check runs. */
  reachable: boolean | null;
  version: string;
  note: string;
}

type Listener = (status: DaemonStatus) => void;

const listeners = new Set<Listener>();
let status: DaemonStatus = { url: daemonUrl(), reachable: null, version: "", note: "" };
let running: Promise<DaemonStatus> | null = null;
let checkedAt = 0;
// Many nodes ask at once when a workflow loads; one answer serves them for a while.
const FRESH_MS = 10_000;

/** A route of ComfyUI's own server (the node pack's `/hikaze/...`), under the prefix the front end uses. */
export function comfyRoute(route: string): string {
  return app.api?.apiURL?.(route) ?? route;
}

function publish(next: DaemonStatus): DaemonStatus {
  status = next;
  for (const listener of listeners) listener(status);
  return status;
}

export function currentStatus(): DaemonStatus {
  return status;
}

export function onStatus(listener: Listener): () => void {
  listeners.add(listener);
  listener(status);
  return () => listeners.delete(listener);
}

async function fromComfy(url: string): Promise<DaemonStatus | null> {
  try {
    const response = await fetch(comfyRoute("/hikaze/daemon"), { cache: "no-store" });
    if (!response.ok) return null;
    const body: unknown = await response.json();
    if (typeof body !== "object" || body === null) return null;
    const { url: serverUrl, reachable, version } = body as Record<string, unknown>;
    if (typeof serverUrl !== "string" || originOf(serverUrl) !== originOf(url)) return null;
    return { url, reachable: reachable === true, version: typeof version === "string" ? version : "", note: "" };
  } catch {
    return null;
  }
}

async function fromBrowser(url: string): Promise<DaemonStatus> {
  try {
    // The daemon sends no CORS headers, so the answer is opaque; that it arrived at all is what counts.
    await fetch(`${url}/api/health`, { mode: "no-cors", cache: "no-store" });
    return { url, reachable: true, version: "", note: "" };
  } catch {
    return { url, reachable: false, version: "", note: "" };
  }
}

export function checkDaemon(fresh = false): Promise<DaemonStatus> {
  const url = daemonUrl();
  if (url !== status.url) publish({ url, reachable: null, version: "", note: "" });
  else if (!fresh && status.reachable !== null && Date.now() - checkedAt < FRESH_MS) return Promise.resolve(status);
  if (running) return running;
  running = (async () => {
    const next = (await fromComfy(url)) ?? (await fromBrowser(url));
    checkedAt = Date.now();
    running = null;
    return publish({ ...next, note: next.reachable ? "" : status.note });
  })();
  return running;
}

/** With the Autostart setting on, asks ComfyUI's server to start the daemon, then waits for it to answer. */
export async function autostartDaemon(): Promise<void> {
  if (!autostart() || (await checkDaemon(true)).reachable) return;
  let reason = "";
  try {
    const response = await fetch(comfyRoute("/hikaze/daemon/start"), { method: "POST" });
    const body = (await response.json().catch(() => ({}))) as { started?: unknown; reason?: unknown };
    if (body.started !== true) reason = typeof body.reason === "string" ? body.reason : `HTTP ${response.status}`;
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  if (reason) {
    publish({ ...status, note: `Autostart failed: ${reason}` });
    return;
  }
  publish({ ...status, note: "Starting the daemon…" });
  // A cold start opens the database and walks the model folders before it listens; a minute covers slow disks.
  for (let attempt = 0; attempt < 60; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if ((await checkDaemon(true)).reachable) return;
  }
  publish({ ...status, note: "Autostart: the daemon did not answer within a minute; see ComfyUI's log." });
}
