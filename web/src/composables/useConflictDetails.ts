import { onScopeDispose, reactive } from "vue";
import { api } from "../api/client";
import type { ConflictEntry, ModelDetail, PendingDetail } from "../api/types";
import { suggest, type Richness, type Suggestion } from "../logic/conflictSuggest";
import { words } from "../logic/inbox";
import { latest } from "../logic/latest";
import { errorText } from "../stores/ui";

/** Both sides of one conflict as read from the daemon: the pending file and the library model it collides with. */
export interface ConflictSides {
  pending?: PendingDetail;
  pendingError?: string;
  model?: ModelDetail;
  modelError?: string;
}

type Side = "pending" | "existing";

// Many conflicts at once (a re-imported folder) must not fire hundreds of requests at the same moment.
export const PARALLEL_LOADS = 4;

/**
 * Reads the two sides of each conflict, a few at a time (`stop`, or the component's end, cancels what is left), and
 * what the dialog shows of each side: from the conflict itself at once, from the reads as they arrive.
 */
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

  function tagNames(c: ConflictEntry, side: Side): string[] {
    const l = loaded.get(c.id);
    if (side === "pending") return (l?.pending?.tags ?? []).map((tag) => tag.name);
    return l?.model?.tags ?? [];
  }

  function baseModel(c: ConflictEntry, side: Side): string {
    const l = loaded.get(c.id);
    if (side === "existing") return c.existing.base_model;
    const hint = l?.pending?.meta_json.base_model;
    return typeof hint === "string" ? hint : "";
  }

  function meta(c: ConflictEntry, side: Side): Record<string, unknown> {
    const l = loaded.get(c.id);
    return (side === "pending" ? l?.pending?.meta_json : l?.model?.meta_json) ?? {};
  }

  function description(c: ConflictEntry, side: Side): string {
    const d = meta(c, side).description;
    return typeof d === "string" ? d : "";
  }

  function preview(c: ConflictEntry, side: Side): string | null {
    const l = loaded.get(c.id);
    if (side === "pending") return l?.pending?.images[0]?.urls.medium ?? null;
    return l?.model?.cover?.medium ?? null;
  }

  function sideError(c: ConflictEntry, side: Side): string | undefined {
    const l = loaded.get(c.id);
    return side === "pending" ? l?.pendingError : l?.modelError;
  }

  function summary(c: ConflictEntry, side: Side) {
    const s = side === "pending" ? c.pending : c.existing;
    return { name: s.name, path: s.path, size: s.size_bytes, type: s.type };
  }

  function differs(c: ConflictEntry, field: "name" | "path" | "type"): boolean {
    return c.pending[field] !== c.existing[field];
  }

  function richness(c: ConflictEntry, side: Side): Richness {
    const m = meta(c, side);
    return {
      preview: preview(c, side) !== null,
      description: description(c, side).trim() !== "",
      triggerWords: words(m.trigger_words).length,
      tags: tagNames(c, side).length,
      links: words(m.community_links).length,
    };
  }

  /** Which side's metadata should win, once both sides are read; none while one is missing. */
  function suggestion(c: ConflictEntry): Suggestion | null {
    const l = loaded.get(c.id);
    if (!l?.pending || !l.model) return null;
    return suggest(richness(c, "pending"), richness(c, "existing"));
  }

  return {
    loaded, load, stop, tagNames, baseModel, meta, description, preview, sideError, summary, differs, suggestion,
  };
}
