import { ref } from "vue";
import type { DaemonEvent } from "../api/types";

/** Stands in for api/events in tests: the stream's state is set by hand and events are sent with `emit`. */
export const eventsConnected = ref(false);
const handlers = new Set<(event: DaemonEvent) => void>();

export function onDaemonEvent(handler: (event: DaemonEvent) => void): () => void {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

export function emit(event: DaemonEvent): void {
  for (const handler of handlers) handler(event);
}

export function listeners(): number {
  return handlers.size;
}

export function resetEvents(): void {
  handlers.clear();
  eventsConnected.value = false;
}
