import { computed, ref, type Ref } from "vue";
import { selectRange, toggle } from "../logic/inbox";

/**
 * Rows chosen by click, shift-click (a range from the last row clicked), Space and the bulk buttons. Only rows
 * still in `rows` count: a selected row that was imported or left the filter is not acted on.
 */
export function useSelection<T extends { id: number }>(rows: Readonly<Ref<readonly T[]>>) {
  const selected = ref<Set<number>>(new Set());
  let anchor: number | null = null;
  const selectedIds = computed(() => rows.value.filter((r) => selected.value.has(r.id)).map((r) => r.id));

  function choose(id: number, range: boolean): void {
    selected.value = range
      ? selectRange(
          selected.value,
          rows.value.map((r) => r.id),
          anchor,
          id,
        )
      : toggle(selected.value, id);
    anchor = id;
  }

  /** Selects exactly the rows `keep` accepts; the next shift-click starts a new range. */
  function selectWhere(keep: (row: T) => boolean): void {
    selected.value = new Set(rows.value.filter(keep).map((r) => r.id));
    anchor = null;
  }

  /** Keeps only the selected ids `keep` accepts (the anchor stays). */
  function retain(keep: (id: number) => boolean): void {
    selected.value = new Set([...selected.value].filter(keep));
  }

  return { selected, selectedIds, choose, selectWhere, retain };
}
