import { onScopeDispose, ref, type Ref } from "vue";
import { SHEET_MAX } from "../logic/layout";

/** Whether the window is too narrow for a details column beside the list (the details are then a sheet). */
export function useViewport(): { narrow: Readonly<Ref<boolean>> } {
  const list = window.matchMedia(`(max-width: ${SHEET_MAX}px)`);
  const narrow = ref(list.matches);
  const update = (e: MediaQueryListEvent) => (narrow.value = e.matches);
  list.addEventListener("change", update);
  onScopeDispose(() => list.removeEventListener("change", update));
  return { narrow };
}
