import { ref } from "vue";
import { api } from "../api/client";
import type { TagCounts, TypeCounts } from "../api/types";
import { reportError } from "./ui";

/** Model types with counts (the tabs) and every tag (suggestions in the tag editor). */
export const types = ref<TypeCounts[]>([]);
export const allTags = ref<TagCounts[]>([]);
/** Bumped whenever the library changed (an event, an import, a save) so views reload what they show. */
export const libraryVersion = ref(0);

let typesTimer: number | undefined;

/** Reloads the tab counts; calls within a quarter second (a burst of events) become one request. */
export function refreshTypes(delayMs = 250): void {
  window.clearTimeout(typesTimer);
  typesTimer = window.setTimeout(() => {
    api
      .types()
      .then((answer) => (types.value = answer.types))
      .catch(reportError);
  }, delayMs);
}

export async function refreshTags(): Promise<void> {
  try {
    allTags.value = (await api.tags()).tags;
  } catch (err) {
    reportError(err);
  }
}

let pendingBump: number | undefined;

/** Marks the library changed; bursts of events (an import of 500 files) become one reload. */
export function libraryChanged(delayMs = 250): void {
  window.clearTimeout(pendingBump);
  pendingBump = window.setTimeout(() => {
    libraryVersion.value++;
    refreshTypes(0);
    void refreshTags();
  }, delayMs);
}
