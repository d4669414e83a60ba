/**
 * Numbers requests so that only the newest one's answer is used: answers can arrive out of order, and an older
 * one arriving last would put back what a newer one replaced.
 */
export interface Latest {
  /** Starts a request; its ticket stays current until `next` or `invalidate` is called again. */
  next(): number;
  isCurrent(ticket: number): boolean;
  /** Makes every ticket handed out so far stale (the view moved on or was closed). */
  invalidate(): void;
}

export function latest(): Latest {
  let current = 0;
  return {
    next: () => ++current,
    isCurrent: (ticket) => ticket === current,
    invalidate: () => void current++,
  };
}
