import { ref, shallowReactive, watch } from "vue";
import { ApiError, api } from "../api/client";
import { eventsConnected, onDaemonEvent } from "../api/events";
import type { DaemonEvent, PendingDetail, PendingItem, ScanProgress } from "../api/types";
import { applyEvent, type InboxState, type Progress } from "../logic/inbox";
import { errorText, reportError } from "./ui";

/** Pending items waiting for the user (every status but ignored), for the header badge. */
export const pendingCount = ref(0);

let counting: Promise<void> | null = null;
let countAgain = false;

/**
 * Reads the count again. Calls while a read is under way (one per event in a burst of thousands) share it and
 * ask for one more read after it: a burst costs a few requests, and the last read starts after the last call.
 */
export function refreshPendingCount(): Promise<void> {
  if (counting) {
    countAgain = true;
    return counting;
  }
  counting = (async () => {
    try {
      do {
        countAgain = false;
        pendingCount.value = (await api.pending("active", 0, 0)).total;
      } while (countAgain);
    } finally {
      counting = null;
    }
  })();
  return counting;
}

/**
 * The inbox's live copy of the import queue: every row (ignored ones too, so the filter chips switch without a
 * round trip and show their counts), loaded once and then patched from the daemon's events.
 */
export const inbox: InboxState = {
  rows: shallowReactive(new Map<number, PendingItem>()),
  progress: shallowReactive(new Map<number, Progress>()),
};
export const inboxLoaded = ref(false);
export const inboxLoading = ref(false);
export const inboxError = ref<string | null>(null);
/** The running walk, or the last one this page saw finish (until dismissed). */
export const scanProgress = ref<ScanProgress | null>(null);

const PAGE = 1000;
// Events come in bursts (a folder of new files); their rows are fetched together a moment later.
const FETCH_DELAY_MS = 150;
// Past this many rows to fetch at once, reading the whole list again is cheaper.
const MAX_SINGLE_FETCHES = 100;

let generation = 0;
/** Events that arrive while the list loads, replayed on top of the loaded snapshot (which may predate them). */
let buffered: DaemonEvent[] | null = null;
const toFetch = new Set<number>();
let fetchTimer: number | undefined;
// The newest request for each row's record: an answer to an older one is stale and dropped.
const wanted = new Map<number, number>();
let ticket = 0;

export async function reloadInbox(): Promise<void> {
  const mine = ++generation;
  buffered = [];
  inboxLoading.value = true;
  try {
    const fresh = new Map<number, PendingItem>();
    for (let offset = 0; ; offset += PAGE) {
      const page = await api.pending("", offset, PAGE);
      if (mine !== generation) return;
      for (const row of page.pending) fresh.set(row.id, row);
      if (page.pending.length < PAGE || offset + PAGE >= page.total) break;
    }
    const snapshot: InboxState = { rows: fresh, progress: new Map(inbox.progress) };
    const refetch = new Set<number>();
    for (const event of buffered) {
      const id = applyEvent(snapshot, event);
      if (id !== null) refetch.add(id);
    }
    buffered = null;
    inbox.rows.clear();
    for (const [id, row] of fresh) inbox.rows.set(id, row);
    for (const id of [...inbox.progress.keys()]) if (fresh.get(id)?.status !== "hashing") inbox.progress.delete(id);
    for (const id of refetch) queueFetch(id);
    inboxError.value = null;
    inboxLoaded.value = true;
  } catch (err) {
    if (mine !== generation) return;
    buffered = null;
    inboxError.value = errorText(err);
  } finally {
    if (mine === generation) inboxLoading.value = false;
  }
}

function queueFetch(id: number): void {
  wanted.set(id, ++ticket);
  toFetch.add(id);
  fetchTimer ??= window.setTimeout(flushFetches, FETCH_DELAY_MS);
}

function flushFetches(): void {
  fetchTimer = undefined;
  const ids = [...toFetch];
  toFetch.clear();
  if (ids.length > MAX_SINGLE_FETCHES) void reloadInbox();
  else for (const id of ids) void fetchRow(id);
}

function listItem(d: PendingDetail): PendingItem {
  const { meta_json: _meta, tags: _tags, images: _images, ...item } = d;
  return item;
}

async function fetchRow(id: number): Promise<void> {
  const mine = wanted.get(id);
  try {
    const detail = await api.pendingDetail(id);
    if (wanted.get(id) !== mine) return;
    inbox.rows.set(id, listItem(detail));
    if (detail.status !== "hashing") inbox.progress.delete(id);
  } catch (err) {
    if (wanted.get(id) !== mine) return;
    if (err instanceof ApiError && err.status === 404) inbox.rows.delete(id);
    else reportError(err);
  } finally {
    if (wanted.get(id) === mine) wanted.delete(id);
  }
}

function applyNow(event: DaemonEvent): void {
  buffered?.push(event);
  if (event.type === "pending.removed" && typeof event.id === "number") {
    wanted.set(event.id, ++ticket);
    toFetch.delete(event.id);
  }
  const id = applyEvent(inbox, event);
  if (id !== null) queueFetch(id);
}

// An import of thousands sends thousands of events, one message each: applied one by one, every one would
// re-sort and redraw the list. They are applied together, a few times a second at most.
const APPLY_EVERY_MS = 60;
let incoming: DaemonEvent[] = [];
let applyTimer: number | undefined;

function applyIncoming(): void {
  applyTimer = undefined;
  const events = incoming;
  incoming = [];
  for (const event of events) applyNow(event);
}

function onEvent(event: DaemonEvent): void {
  if (event.type === "scan.progress") {
    scanProgress.value = event as unknown as ScanProgress;
    return;
  }
  if (!event.type.startsWith("pending.") && event.type !== "hash.progress") return;
  incoming.push(event);
  applyTimer ??= window.setTimeout(applyIncoming, APPLY_EVERY_MS);
}

// How long the list waits for the event stream to open before it is read anyway (and read again on the open).
const STREAM_WAIT_MS = 1500;

/** Starts following the queue (load, then live events; a reload whenever the stream opens again). Returns the stop. */
export function followInbox(): () => void {
  const stopEvents = onDaemonEvent(onEvent);
  // The list is read while the stream is open, so no event can fall between the read and the stream; events
  // missed while the stream was down are not replayed, so every (re)open reads it again.
  const stopWatch = watch(eventsConnected, (up) => {
    if (up) void reloadInbox();
  });
  let fallback: number | undefined;
  if (eventsConnected.value) void reloadInbox();
  else {
    fallback = window.setTimeout(() => {
      if (!eventsConnected.value) void reloadInbox();
    }, STREAM_WAIT_MS);
  }
  api
    .status()
    .then((st) => {
      if (st.scan) scanProgress.value = st.scan;
    })
    .catch(reportError);
  return () => {
    stopEvents();
    stopWatch();
    window.clearTimeout(fallback);
    window.clearTimeout(applyTimer);
    applyTimer = undefined;
    incoming = [];
    generation++;
    buffered = null;
  };
}

/** POST /api/scan. "running" when a walk was already under way (its progress shows all the same). */
export async function startScan(): Promise<"started" | "running"> {
  const before = scanProgress.value;
  // Shown before asking: a small tree's walk can finish (and say so by event) before the answer arrives.
  scanProgress.value = {
    phase: "walking",
    started_at: Date.now() / 1000,
    dirs: 0,
    files: 0,
    new_or_changed: 0,
    gone: 0,
    unreadable: 0,
    skipped: 0,
    finished_at: null,
    error: null,
  };
  try {
    await api.scan();
    return "started";
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      if (before && before.phase !== "done" && before.phase !== "failed") scanProgress.value = before;
      return "running";
    }
    scanProgress.value = before;
    throw err;
  }
}
