// What the page shows of the models' use in ComfyUI: the "unused for" filter's choices, how long ago a use was,
// and which of two reports of a model's use is the newer. Kept apart from the components so they are testable.

/** The filter's ready choices, in days; any other whole number of days is a custom one. */
export const UNUSED_CHOICES = [30, 90, 180, 365] as const;
export const MAX_UNUSED_DAYS = 36500; // the daemon's bound of `unused_days`

/** The days the URL's `unused` asks for, or 0 for no such filter (nonsense counts as none). */
export function unusedDays(raw: string): number {
  if (!/^\d{1,5}$/.test(raw)) return 0;
  const days = Number(raw);
  return days >= 1 && days <= MAX_UNUSED_DAYS ? days : 0;
}

/** Whether the days are one of the ready choices (else the custom box shows them). */
export function isReadyChoice(days: number): boolean {
  return (UNUSED_CHOICES as readonly number[]).includes(days);
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

/** How long before `now` a daemon time was, in its largest whole unit ("3 days ago", "now" under a minute), in
 *  the page's language. A time ahead of the page's clock (the daemon's runs ahead) counts as now. */
export function timeAgo(seconds: number, now: number, locale: string): string {
  const past = Math.max(0, now - seconds);
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (past >= size) return format.format(-Math.floor(past / size), unit);
  }
  return format.format(0, "second");
}

export interface Usage {
  use_count: number;
  last_used_at: number | null;
}

/** The newer of what a page or a detail was read with and what the event stream said since: counts only grow,
 *  so the higher one is the later report. */
export function newerUsage(read: Usage, heard: Usage | undefined): Usage {
  return heard && heard.use_count > read.use_count ? heard : read;
}
