import { defineStore } from "pinia";
import { ref, shallowReactive, watch } from "vue";
import { ApiError, api } from "../api/client";
import { eventsConnected, onDaemonEvent } from "../api/events";
import type { DaemonEvent, PendingDetail, PendingItem, ScanProgress } from "../api/types";
import { applyEvent, type InboxState, type Progress } from "../logic/inbox";
import { latest } from "../logic/latest";
import { onStreamReopened } from "./stream";
import { errorText, useUiStore } from "./ui";

const PAGE = 1000;
// Events come in bursts (a folder of new files); their rows are fetched together a moment later.
const FETCH_DELAY_MS = 150;
// Past this many rows to fetch at once, reading the whole list again is cheaper.
const MAX_SINGLE_FETCHES = 100;
// An import of thousands sends thousands of events, one message each: applied one by one, every one would
// re-sort and redraw the list. They are applied together, a few times a second at most.
const APPLY_EVERY_MS = 60;
// How long the list waits for the event stream to open before it is read anyway (and read again on the open).
const STREAM_WAIT_MS = 1500;

function listItem(d: PendingDetail): PendingItem {
  const { meta_json: _meta, tags: _tags, images: _images, ...item } = d;
  return item;
}

/** The import queue as the page knows it: the header's count, the inbox's rows, the running walk. */
export const usePendingStore = defineStore("pending", () => {
  const ui = useUiStore();

  /** Pending items waiting for the user (every status but ignored), for the header badge. */
  const count = ref(0);
  let counting: Promise<void> | null = null;
  let countAgain = false;

  /**
   * Reads the count again. Calls while a read is under way (one per event in a burst of thousands) share it and
   * ask for one more read after it: a burst costs a few requests, and the last read starts after the last call.
   */
  function refreshCount(): Promise<void> {
    if (counting) {
      countAgain = true;
      return counting;
    }
    counting = (async () => {
      try {
        do {
          countAgain = false;
          count.value = (await api.pending("active", 0, 0)).total;
        } while (countAgain);
      } finally {
        counting = null;
      }
    })();
    return counting;
  }

  /** Keeps the count current: every pending event, and every reopening of the event stream, reads it again. */
  function followCount(): () => void {
    const again = () => void refreshCount().catch(() => undefined);
    const stopEvents = onDaemonEvent((event) => {
      if (event.type.startsWith("pending.")) again();
    });
    const stopReopened = onStreamReopened(again);
    refreshCount().catch(ui.reportError);
    return () => {
      stopEvents();
      stopReopened();
    };
  }

  /**
   * The inbox's live copy of the queue: every row (ignored ones too, so the filter chips switch without a round
   * trip and show their counts), loaded once and then patched from the daemon's events.
   */
  const rows = shallowReactive(new Map<number, PendingItem>());
  const progress = shallowReactive(new Map<number, Progress>());
  const inbox: InboxState = { rows, progress };
  const loaded = ref(false);
  const loading = ref(false);
  const loadError = ref<string | null>(null);
  /** The model folders, for naming a row's folder relative to the one it is in (the inbox's folder filter). */
  const roots = ref<string[]>([]);
  /** The running walk, or the last one this page saw finish (until dismissed). */
  const scanProgress = ref<ScanProgress | null>(null);

  const reads = latest();
  /** Events that arrive while the list loads, replayed on top of the loaded snapshot (which may predate them). */
  let buffered: DaemonEvent[] | null = null;
  const toFetch = new Set<number>();
  let fetchTimer: ReturnType<typeof setTimeout> | undefined;
  // The newest request for each row's record: an answer to an older one is stale and dropped.
  const wanted = new Map<number, number>();
  let ticket = 0;
  let incoming: DaemonEvent[] = [];
  let applyTimer: ReturnType<typeof setTimeout> | undefined;
  // Aborted when the inbox stops following, so its reads do not outlive it.
  let controller = new AbortController();

  async function reload(): Promise<void> {
    const mine = reads.next();
    const { signal } = controller;
    buffered = [];
    loading.value = true;
    try {
      const fresh = new Map<number, PendingItem>();
      for (let offset = 0; ; offset += PAGE) {
        const page = await api.pending("", offset, PAGE, signal);
        if (!reads.isCurrent(mine)) return;
        for (const row of page.pending) fresh.set(row.id, row);
        if (page.pending.length < PAGE || offset + PAGE >= page.total) break;
      }
      const snapshot: InboxState = { rows: fresh, progress: new Map(progress) };
      const refetch = new Set<number>();
      for (const event of buffered) {
        const id = applyEvent(snapshot, event);
        if (id !== null) refetch.add(id);
      }
      buffered = null;
      rows.clear();
      for (const [id, row] of fresh) rows.set(id, row);
      for (const id of [...progress.keys()]) if (fresh.get(id)?.status !== "hashing") progress.delete(id);
      for (const id of refetch) queueFetch(id);
      loadError.value = null;
      loaded.value = true;
    } catch (err) {
      if (!reads.isCurrent(mine)) return;
      buffered = null;
      loadError.value = errorText(err);
    } finally {
      if (reads.isCurrent(mine)) loading.value = false;
    }
  }

  function queueFetch(id: number): void {
    wanted.set(id, ++ticket);
    toFetch.add(id);
    fetchTimer ??= setTimeout(flushFetches, FETCH_DELAY_MS);
  }

  function flushFetches(): void {
    fetchTimer = undefined;
    const ids = [...toFetch];
    toFetch.clear();
    if (ids.length > MAX_SINGLE_FETCHES) void reload();
    else for (const id of ids) void fetchRow(id);
  }

  async function fetchRow(id: number): Promise<void> {
    const mine = wanted.get(id);
    try {
      const detail = await api.pendingDetail(id, controller.signal);
      if (wanted.get(id) !== mine) return;
      rows.set(id, listItem(detail));
      if (detail.status !== "hashing") progress.delete(id);
    } catch (err) {
      if (wanted.get(id) !== mine) return;
      if (err instanceof ApiError && err.status === 404) rows.delete(id);
      else ui.reportError(err);
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
    applyTimer ??= setTimeout(applyIncoming, APPLY_EVERY_MS);
  }

  /** Starts following the queue (load, then live events; a reload whenever the stream opens again). Returns the stop. */
  function followInbox(): () => void {
    const stopEvents = onDaemonEvent(onEvent);
    // The list is read while the stream is open, so no event can fall between the read and the stream; events
    // missed while the stream was down are not replayed, so every (re)open reads it again.
    const stopWatch = watch(eventsConnected, (up) => {
      if (up) void reload();
    });
    let fallback: ReturnType<typeof setTimeout> | undefined;
    if (eventsConnected.value) void reload();
    else {
      fallback = setTimeout(() => {
        if (!eventsConnected.value) void reload();
      }, STREAM_WAIT_MS);
    }
    api
      .status(controller.signal)
      .then((st) => {
        if (st.scan) scanProgress.value = st.scan;
        roots.value = st.roots.map((r) => r.path);
      })
      .catch(ui.reportError);
    return () => {
      stopEvents();
      stopWatch();
      for (const timer of [fallback, applyTimer, fetchTimer]) clearTimeout(timer);
      applyTimer = fetchTimer = undefined;
      incoming = [];
      toFetch.clear();
      reads.invalidate();
      loading.value = false;
      buffered = null;
      controller.abort();
      controller = new AbortController();
    };
  }

  /** POST /api/scan. "running" when a walk was already under way (its progress shows all the same). */
  async function startScan(): Promise<"started" | "running"> {
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

  return {
    count,
    refreshCount,
    followCount,
    rows,
    progress,
    loaded,
    loading,
    loadError,
    scanProgress,
    roots,
    reload,
    followInbox,
    startScan,
  };
});
