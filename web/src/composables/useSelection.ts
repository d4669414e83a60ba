import { computed, ref, watch, type Ref } from "vue";
import { selectRange, toggle } from "../logic/inbox";

/**
 * Rows chosen by their checkbox, Ctrl/Cmd-click, Space, Shift (a range from the last row toggled) and the bulk
 * buttons; never by merely opening a row. Rows arriving keep the selection as it is; a row that leaves `rows`
 * (imported, removed, or out of the filter) leaves the selection, so it is not acted on and does not come back
 * selected if it reappears.
 */
export function useSelection<T extends { id: number }>(rows: Readonly<Ref<readonly T[]>>) {
  const selected = ref<Set<number>>(new Set());
  let anchor: number | null = null;
  const selectedIds = computed(() => rows.value.filter((r) => selected.value.has(r.id)).map((r) => r.id));

  watch(rows, (now) => {
    if (!selected.value.size && anchor === null) return;
    const present = new Set(now.map((r) => r.id));
    if (anchor !== null && !present.has(anchor)) anchor = null;
    if ([...selected.value].every((id) => present.has(id))) return;
    selected.value = new Set([...selected.value].filter((id) => present.has(id)));
  });

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
