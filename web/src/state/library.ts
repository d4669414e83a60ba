import { ref } from "vue";
import { api } from "../api/client";
import type { TagCounts, TypeCounts } from "../api/types";
import { reportError } from "./ui";

/** Model types with counts (the tabs) and every tag (suggestions in the tag editor). */
export const types = ref<TypeCounts[]>([]);
export const allTags = ref<TagCounts[]>([]);
/** Bumped whenever the library changed (an event, an import, a save) so views reload what they show. */
export const libraryVersion = ref(0);

export async function refreshTypes(): Promise<void> {
  try {
    types.value = (await api.types()).types;
  } catch (err) {
    reportError(err);
  }
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
    void refreshTypes();
    void refreshTags();
  }, delayMs);
}
