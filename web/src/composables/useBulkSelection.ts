import { computed, ref, shallowRef, type Ref } from "vue";
import type { ModelListItem } from "../api/types";
import { isTyping, modalOpen } from "../logic/focus";
import {
  EMPTY,
  isChecked,
  selectedCount,
  selectSpan,
  selectSwept,
  toggleOne,
  type BulkSelection,
} from "../logic/bulk";
import { useWindowEvent } from "./useWindowEvent";

/**
 * The library's cards chosen for a bulk change, by index in the grid: Ctrl/Cmd-click or the checkbox toggles one,
 * Shift-click takes a range from the last card toggled, a rectangle sweeps several, "Select all" takes the whole
 * filter (without loading it), Escape clears. The caller clears it when the filter changes.
 */
export function useBulkSelection(getItem: (index: number) => ModelListItem | undefined, total: Ref<number | null>) {
  const selection = shallowRef<BulkSelection>(EMPTY);
  const anchor = ref<number | null>(null);
  const count = computed(() => selectedCount(selection.value, total.value ?? 0));

  function checked(sha256: string): boolean {
    return isChecked(selection.value, sha256);
  }

  function check(index: number, range: boolean): void {
    const item = getItem(index);
    if (!item) return;
    if (range && anchor.value !== null) {
      // The cards between that are loaded: a range over pages never seen is as far as the page can know.
      const [from, to] = [Math.min(anchor.value, index), Math.max(anchor.value, index)];
      const order: string[] = [];
      for (let i = from; i <= to; i++) {
        const sha = getItem(i)?.sha256;
        if (sha) order.push(sha);
      }
      selection.value = selectSpan(selection.value, order, getItem(anchor.value)?.sha256 ?? null, item.sha256);
    } else {
      selection.value = toggleOne(selection.value, item.sha256);
    }
    anchor.value = index;
  }

  function sweep(indexes: readonly number[], keep: boolean): void {
    const shas = indexes.map((i) => getItem(i)?.sha256).filter((s): s is string => s !== undefined);
    selection.value = selectSwept(selection.value, shas, keep);
  }

  function selectAll(): void {
    selection.value = { all: true, picked: new Set(), except: new Set() };
  }

  function clear(): void {
    selection.value = EMPTY;
    anchor.value = null;
  }

  useWindowEvent("keydown", (e) => {
    // Escape in a dialog closes the dialog, and in a text field belongs to the field.
    if (e.key !== "Escape" || e.defaultPrevented || isTyping(e.target) || modalOpen() || !count.value) return;
    e.preventDefault();
    clear();
  });

  return { selection, count, checked, check, sweep, selectAll, clear };
}
