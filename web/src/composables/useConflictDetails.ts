import { onScopeDispose, reactive } from "vue";
import { api } from "../api/client";
import type { ConflictEntry, ModelDetail, PendingDetail } from "../api/types";
import { latest } from "../logic/latest";
import { errorText } from "../stores/ui";

/** Both sides of one conflict as read from the daemon: the pending file and the library model it collides with. */
export interface ConflictSides {
  pending?: PendingDetail;
  pendingError?: string;
  model?: ModelDetail;
  modelError?: string;
}

// Many conflicts at once (a re-imported folder) must not fire hundreds of requests at the same moment.
export const PARALLEL_LOADS = 4;

/** Reads the two sides of each conflict, a few at a time; `stop` (or the component's end) cancels what is left. */
export function useConflictDetails() {
  const loaded = reactive(new Map<number, ConflictSides>());
  const runs = latest();
  let controller: AbortController | null = null;

  async function loadOne(c: ConflictEntry, mine: number, signal: AbortSignal): Promise<void> {
    const [pending, model] = await Promise.allSettled([
      api.pendingDetail(c.id, signal),
      api.model(c.existing.sha256, signal),
    ]);
    if (!runs.isCurrent(mine)) return;
    loaded.set(c.id, {
      pending: pending.status === "fulfilled" ? pending.value : undefined,
      pendingError: pending.status === "rejected" ? errorText(pending.reason) : undefined,
      model: model.status === "fulfilled" ? model.value : undefined,
      modelError: model.status === "rejected" ? errorText(model.reason) : undefined,
    });
  }

  /** Forgets what was read and reads `list`'s sides; an earlier load still running is cancelled. */
  async function load(list: readonly ConflictEntry[]): Promise<void> {
    stop();
    loaded.clear();
    const mine = runs.next();
    controller = new AbortController();
    const { signal } = controller;
    const queue = [...list];
    const worker = async () => {
      for (let c = queue.shift(); c && runs.isCurrent(mine); c = queue.shift()) await loadOne(c, mine, signal);
    };
    await Promise.all(Array.from({ length: PARALLEL_LOADS }, worker));
  }

  function stop(): void {
    runs.invalidate();
    controller?.abort();
    controller = null;
  }

  onScopeDispose(stop);

  return { loaded, load, stop };
}
