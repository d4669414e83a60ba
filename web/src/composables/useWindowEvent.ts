import { onScopeDispose } from "vue";

/** Listens on the window for as long as the calling component (or effect scope) lives. */
export function useWindowEvent<K extends keyof WindowEventMap>(
  type: K,
  listener: (event: WindowEventMap[K]) => void,
): void {
  window.addEventListener(type, listener);
  onScopeDispose(() => window.removeEventListener(type, listener));
}
