import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, api } from "../api/client";
import { onDaemonEvent } from "../api/events";
import type { LookupProgress } from "../api/types";
import { i18n } from "../i18n";
import { formatNumber } from "../logic/format";
import { latest } from "../logic/latest";
import { IDLE, progressShown } from "../logic/webmeta";
import { onStreamReopened } from "./stream";
import { useUiStore } from "./ui";

/**
 * The lookups of metadata on the web as the whole page knows them: how the background lookups stand (`lookups` of
 * the status at load, then `lookup.progress` events), queueing more of them, and whether the daemon said they are
 * off (`metadata_sources` names no source: a 409), after which the page offers none of them again.
 */
export const useLookupsStore = defineStore("lookups", () => {
  const ui = useUiStore();
  const t = i18n.global.t;
  const progress = ref<LookupProgress | null>(null);
  /** The daemon's message once it said the lookups are off; the page then offers them no more. */
  const off = ref<string | null>(null);
  const queueing = ref(false);
  // Counts the progress events, so that an answer read before one of them does not replace what it said.
  let events = 0;

  function number(n: number): string {
    return formatNumber(n, i18n.global.locale.value);
  }

  /** Takes the daemon's word on the lookups; a run that ends while the line shows says how it went. */
  function take(next: LookupProgress): void {
    const before = progress.value;
    progress.value = next;
    if (progressShown(before) && !progressShown(next) && next.done > 0) {
      ui.notify(
        t("webmeta.finished", {
          done: number(next.done),
          found: number(next.found),
          notFound: number(next.not_found),
        }),
      );
    }
  }

  /** The daemon said the lookups are off: says why once, and offers them no more this session. */
  function turnOff(message: string): void {
    if (off.value !== null) return;
    off.value = message;
    ui.notify(message, "error");
  }

  const reads = latest();
  function readStatus(): void {
    const mine = reads.next();
    const seen = events;
    api
      .status()
      .then((st) => {
        if (reads.isCurrent(mine) && events === seen && st.lookups) take(st.lookups);
      })
      .catch(ui.reportError);
  }

  /** Reads how the lookups stand, then follows their events (and reads again after the stream was down). */
  function follow(): () => void {
    readStatus();
    const stopEvents = onDaemonEvent((event) => {
      if (event.type !== "lookup.progress") return;
      events++;
      const { type: _type, ...rest } = event;
      take(rest);
    });
    const stopReopened = onStreamReopened(readStatus);
    return () => {
      stopEvents();
      stopReopened();
      reads.invalidate();
    };
  }

  /**
   * Runs `work` (one or more POST /api/metadata/fetch, answering how many lookups wait after the last, or null when
   * it had nothing to send) and says how many were queued; a 409 means the lookups are off.
   */
  async function queue(work: () => Promise<number | null>): Promise<void> {
    if (off.value !== null || queueing.value) return;
    queueing.value = true;
    const seen = events;
    try {
      const queued = await work();
      if (queued === null) return;
      if (queued > 0 && events === seen) {
        // Shown at once; the worker's events take over from here (one that came meanwhile already has).
        const now = progress.value ?? IDLE;
        progress.value = { ...now, queued: Math.max(now.queued, queued) };
      }
      ui.notify(queued > 0 ? t("webmeta.queued", { n: number(queued) }, queued) : t("webmeta.queuedNone"));
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) turnOff(err.message);
      else ui.reportError(err);
    } finally {
      queueing.value = false;
    }
  }

  /** Every model no source was asked about yet, not found a week ago or more, or given up on. */
  function queueMissing(): Promise<void> {
    return queue(async () => (await api.fetchMetadata({})).queued);
  }

  return { progress, off, queueing, follow, queue, queueMissing, turnOff };
});
