const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function formatDate(seconds: number | null | undefined, locale: string): string {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

export function imageUrl(sha256: string, seq: number, tier: "high" | "medium" | "low"): string {
  return `/api/images/${sha256}/${seq}/${tier}`;
}
