import { onScopeDispose, ref } from "vue";
import { onDaemonEvent } from "../api/events";

/** How far back the rate looks: long enough to smooth a burst of small files, short enough to follow a change. */
export const WINDOW_MS = 5000;
const UPDATE_MS = 1000;

export interface HashRate {
  filesPerS: number;
  bytesPerS: number;
}

/**
 * Files and bytes hashed per second over the last few seconds, from the `pending.updated` events the daemon sends
 * once a file is hashed (they carry `size_bytes`); null once nothing was hashed for a whole window. The rate of a
 * run that began less than a window ago is taken over the time since it began, so it is right from the start.
 */
export function useHashRate(now: () => number = Date.now) {
  const rate = ref<HashRate | null>(null);
  const recent: { at: number; bytes: number }[] = [];
  let runStart = 0;
  let timer: ReturnType<typeof setInterval> | undefined;

  function update(): void {
    const t = now();
    // One splice for all that left the window: at thousands of small files a second, shifting them one by one
    // would move the whole array each time.
    const kept = recent.findIndex((r) => r.at > t - WINDOW_MS);
    recent.splice(0, kept === -1 ? recent.length : kept);
    if (recent.length === 0) {
      rate.value = null;
      clearInterval(timer);
      timer = undefined;
      return;
    }
    const seconds = Math.max(Math.min(t - runStart, WINDOW_MS), UPDATE_MS) / 1000;
    const bytes = recent.reduce((sum, r) => sum + r.bytes, 0);
    rate.value = { filesPerS: recent.length / seconds, bytesPerS: bytes / seconds };
  }

  const stop = onDaemonEvent((event) => {
    if (event.type !== "pending.updated" || !("size_bytes" in event) || event.size_bytes === undefined) return;
    const t = now();
    if (recent.length === 0) runStart = t;
    recent.push({ at: t, bytes: event.size_bytes });
    timer ??= setInterval(update, UPDATE_MS);
  });
  onScopeDispose(() => {
    stop();
    clearInterval(timer);
  });
  return { rate };
}
