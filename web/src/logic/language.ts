/** The stored choice, else the first browser language we have (exact, then by its primary subtag), else English. */
export function pickLanguage(wanted: readonly string[], stored: string | null, available: readonly string[]): string {
  if (stored && available.includes(stored)) return stored;
  for (const lang of wanted) {
    const exact = available.find((a) => a.toLowerCase() === lang.toLowerCase());
    if (exact) return exact;
    const primary = lang.split("-")[0]?.toLowerCase();
    const near = available.find((a) => a.split("-")[0]?.toLowerCase() === primary);
    if (near) return near;
  }
  return available.includes("en") ? "en" : (available[0] ?? "en");
}
