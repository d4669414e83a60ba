import { defineStore } from "pinia";
import { reactive, ref } from "vue";
import { api } from "../api/client";
import { onDaemonEvent } from "../api/events";
import type { TagCounts, TypeCounts } from "../api/types";
import { latest } from "../logic/latest";
import type { Usage } from "../logic/usage";
import { onStreamReopened } from "./stream";
import { useUiStore } from "./ui";

// Bursts of events (an import of 500 files) become one reload after this quiet time.
const BURST_MS = 250;

export const useLibraryStore = defineStore("library", () => {
  const ui = useUiStore();
  /** Model types with counts (the tabs) and every tag (suggestions in the tag editor). */
  const types = ref<TypeCounts[]>([]);
  const allTags = ref<TagCounts[]>([]);
  /** Bumped whenever the library changed (an event, an import, a save) so views reload what they show. */
  const version = ref(0);
  /** Each model's use as the event stream last told it, for what was read before (an open detail). */
  const usage = reactive(new Map<string, Usage>());

  // Two reads can overlap (an event's read and a save's); an older answer arriving last must not win.
  const typesRead = latest();
  const tagsRead = latest();
  let typesTimer: ReturnType<typeof setTimeout> | undefined;
  let changedTimer: ReturnType<typeof setTimeout> | undefined;
  let usedTimer: ReturnType<typeof setTimeout> | undefined;

  /** Reloads the tab counts; calls within `delayMs` of each other become one request. */
  function refreshTypes(delayMs = BURST_MS): void {
    clearTimeout(typesTimer);
    typesTimer = setTimeout(() => {
      const mine = typesRead.next();
      api
        .types()
        .then((answer) => {
          if (typesRead.isCurrent(mine)) types.value = answer.types;
        })
        .catch(ui.reportError);
    }, delayMs);
  }

  async function refreshTags(): Promise<void> {
    const mine = tagsRead.next();
    try {
      const answer = await api.tags();
      if (tagsRead.isCurrent(mine)) allTags.value = answer.tags;
    } catch (err) {
      ui.reportError(err);
    }
  }

  /** Marks the library changed; calls within `delayMs` of each other become one reload. */
  function libraryChanged(delayMs = BURST_MS): void {
    clearTimeout(changedTimer);
    changedTimer = setTimeout(() => {
      version.value++;
      refreshTypes(0);
      void refreshTags();
    }, delayMs);
  }

  /** ComfyUI used these models: their counts are noted, and the list is read again (its order by use, and what
   *  went unused, may have changed) once a burst of them is over; the tabs and tags stay as they are. */
  function modelsUsed(models: readonly ({ sha256: string } & Usage)[]): void {
    for (const m of models) usage.set(m.sha256, { use_count: m.use_count, last_used_at: m.last_used_at });
    clearTimeout(usedTimer);
    usedTimer = setTimeout(() => version.value++, BURST_MS);
  }

  /** Loads the counts and tags, then keeps them current from the daemon's events. Returns the stop. */
  function follow(): () => void {
    refreshTypes(0);
    void refreshTags();
    const stopEvents = onDaemonEvent((event) => {
      if (event.type.startsWith("model.")) libraryChanged();
      if (event.type === "models.used") modelsUsed(event.models);
      // The tabs count pending files per type too.
      if (event.type.startsWith("pending.")) refreshTypes();
    });
    const stopReopened = onStreamReopened(() => libraryChanged(0));
    return () => {
      stopEvents();
      stopReopened();
      clearTimeout(typesTimer);
      clearTimeout(changedTimer);
      clearTimeout(usedTimer);
    };
  }

  return { types, allTags, version, usage, refreshTypes, refreshTags, libraryChanged, modelsUsed, follow };
});
