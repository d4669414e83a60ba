import { watch } from "vue";
import { eventsConnected } from "../api/events";

/**
 * Calls `reopened` each time the event stream opens again after it dropped: the events sent meanwhile are not
 * replayed, so what they would have changed must be read again. The first open is not a reopening. Returns the stop.
 */
export function onStreamReopened(reopened: () => void): () => void {
  let everOpen = false;
  return watch(eventsConnected, (up) => {
    if (!up) return;
    if (everOpen) reopened();
    everOpen = true;
  });
}
