import { ref } from "vue";
import type { DaemonEvent, DaemonEventType } from "./types";

type Handler = (event: DaemonEvent) => void;

const handlers = new Set<Handler>();
/** Whether the event stream is open; the page shows a notice while it is not. */
export const eventsConnected = ref(false);
let source: EventSource | null = null;

function open(): void {
  source = new EventSource("/api/events");
  source.onopen = () => {
    eventsConnected.value = true;
  };
  // EventSource reconnects by itself; listeners reload their state on the next open.
  source.onerror = () => {
    eventsConnected.value = false;
  };
  source.onmessage = dispatch;
  for (const type of Object.keys(EVENT_TYPES)) source.addEventListener(type, dispatch as EventListener);
}

// Every type the spec names: a type added to docs/openapi.yaml does not compile until it is listened to here.
const EVENT_TYPES: Record<DaemonEventType, true> = {
  "pending.added": true,
  "pending.updated": true,
  "pending.removed": true,
  "hash.progress": true,
  "scan.progress": true,
  "model.added": true,
  "model.updated": true,
  "model.removed": true,
  "model.missing": true,
  "model.moved": true,
  "model.relinked": true,
  "models.used": true,
  "root.changed": true,
  "legacy.progress": true,
  "legacy.done": true,
  "lookup.progress": true,
};

function dispatch(message: MessageEvent<string>): void {
  let event: DaemonEvent;
  try {
    event = JSON.parse(message.data) as DaemonEvent;
  } catch {
    return;
  }
  for (const handler of handlers) handler(event);
}

/** Calls `handler` for every daemon event until the returned function is called. */
export function onDaemonEvent(handler: Handler): () => void {
  if (!source) open();
  handlers.add(handler);
  return () => handlers.delete(handler);
}
