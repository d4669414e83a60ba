import { computed, ref, type Ref } from "vue";
import { focusWhenDrawn } from "./focusWhenDrawn";

/**
 * Where a navigation key moves in a list of `count` rows from row `index` (`page` rows per screen); null for
 * every other key.
 */
export function keyTarget(key: string, index: number, page: number, count: number): number | null {
  const moves: Record<string, number> = {
    ArrowDown: index + 1,
    ArrowUp: index - 1,
    PageDown: index + page,
    PageUp: index - page,
    Home: 0,
    End: count - 1,
  };
  return key in moves ? Math.max(0, Math.min(count - 1, moves[key] as number)) : null;
}

export interface ListKeyboardOptions {
  rows: Readonly<Ref<readonly { id: number }[]>>;
  /** The rows drawn now (a virtual list draws only those in and near the view). */
  drawn: Readonly<Ref<readonly { key: number }[]>>;
  scroller: Readonly<Ref<HTMLElement | null>>;
  rowHeight: number;
  /** Matches a row element, which carries `data-id` and `data-index`. */
  rowSelector: string;
  scrollToIndex: (index: number) => void;
  /** Space (with Shift: a range). */
  choose: (id: number, range: boolean) => void;
  /** Enter. */
  open: (id: number) => void;
}

/**
 * Moving through a (virtual) list by keyboard: arrows, Page Up/Down, Home/End focus a row (scrolling it into view),
 * Space chooses it, Enter opens it. One row at a time is in the tab order (the focused one, else the first drawn),
 * so Tab enters and leaves the list.
 */
export function useListKeyboard(o: ListKeyboardOptions) {
  const focusedId = ref<number | null>(null);
  const tabId = computed(() => {
    const drawn = o.drawn.value;
    return drawn.some((s) => s.key === focusedId.value) ? focusedId.value : (drawn[0]?.key ?? null);
  });

  function rowOf(e: Event): HTMLElement | null {
    return (e.target as HTMLElement).closest<HTMLElement>(o.rowSelector);
  }

  async function focusIndex(i: number): Promise<void> {
    const row = o.rows.value[i];
    if (!row) return;
    focusedId.value = row.id;
    o.scrollToIndex(i);
    await focusWhenDrawn(() => o.scroller.value, i);
  }

  function onKey(e: KeyboardEvent): void {
    const el = rowOf(e);
    if (!el || e.target !== el) return;
    const id = Number(el.dataset.id);
    const page = Math.max(1, Math.floor((o.scroller.value?.clientHeight ?? o.rowHeight) / o.rowHeight) - 1);
    const to = keyTarget(e.key, Number(el.dataset.index), page, o.rows.value.length);
    if (to !== null) {
      e.preventDefault();
      void focusIndex(to);
    } else if (e.key === " ") {
      e.preventDefault();
      o.choose(id, e.shiftKey);
    } else if (e.key === "Enter") {
      e.preventDefault();
      o.open(id);
    }
  }

  function onFocusIn(e: FocusEvent): void {
    const el = rowOf(e);
    if (el) focusedId.value = Number(el.dataset.id);
  }

  /** A click on a row focuses it; returns its id, or null when the click was not on a row. */
  function clicked(e: MouseEvent): number | null {
    const el = rowOf(e);
    if (!el) return null;
    const id = Number(el.dataset.id);
    focusedId.value = id;
    return id;
  }

  return { tabId, onKey, onFocusIn, clicked };
}
