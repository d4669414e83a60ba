import { defineStore } from "pinia";
import { reactive, watch } from "vue";

/** Choices that outlive the page: kept in localStorage, not in the URL. */
export interface Prefs {
  columns: number;
  view: "cards" | "list";
  hideNsfw: boolean;
  detailsWidth: number; // percent of the window
}

const KEY = "hikaze.prefs";
const DEFAULTS: Prefs = { columns: 5, view: "cards", hideNsfw: true, detailsWidth: 30 };

export const MIN_COLUMNS = 2;
export const MAX_COLUMNS = 10;

export function clampColumns(n: number): number {
  return Math.min(MAX_COLUMNS, Math.max(MIN_COLUMNS, Math.round(Number.isFinite(n) ? n : DEFAULTS.columns)));
}

function load(): Prefs {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "{}") as Partial<Prefs>;
    return {
      columns: clampColumns(saved.columns ?? DEFAULTS.columns),
      view: saved.view === "list" ? "list" : "cards",
      hideNsfw: saved.hideNsfw !== false,
      detailsWidth: Math.min(70, Math.max(18, Number(saved.detailsWidth) || DEFAULTS.detailsWidth)),
    };
  } catch {
    return { ...DEFAULTS };
  }
}

export const usePrefsStore = defineStore("prefs", () => {
  const prefs = reactive<Prefs>(load());
  watch(prefs, (value) => {
    try {
      localStorage.setItem(KEY, JSON.stringify(value));
    } catch {
      // Storage refused (private window): the choice lasts for this page only.
    }
  });
  return { prefs };
});
