// How the page writes numbers, sizes and times: always in the language the page is set to (vue-i18n's locale),
// never the browser's, so a page switched to 简体中文 does not mix in the browser's digit grouping or date order.

// Sizes are counted in 1024s, so they carry the binary units' names (a 6.5 GiB checkpoint is not 6.5 GB).
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** A size for people: "512 B", "1.50 KiB", "14.2 MiB", "144 GiB" (three significant digits at most). */
export function formatBytes(bytes: number, locale: string): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0;
  const n = new Intl.NumberFormat(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return `${n.format(value)} ${UNITS[unit]}`;
}

export function formatNumber(n: number, locale: string): string {
  return new Intl.NumberFormat(locale).format(n);
}

/** A daemon time (Unix seconds) as date and time; "" when there is none. */
export function formatDate(seconds: number | null | undefined, locale: string): string {
  if (!seconds) return "";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(seconds * 1000);
}

/** A daemon time (Unix seconds) as a date alone; "" when there is none. */
export function formatDay(seconds: number | null | undefined, locale: string): string {
  if (!seconds) return "";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(seconds * 1000);
}
