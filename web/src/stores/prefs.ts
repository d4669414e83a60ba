import { defineStore } from "pinia";
import { reactive, watch } from "vue";

export type NsfwMode = "hide" | "blur" | "show";

function nsfwMode(saved: unknown, hideNsfw: boolean | undefined): NsfwMode {
  if (saved === "hide" || saved === "blur" || saved === "show") return saved;
  return hideNsfw === false ? "show" : "hide";
}

/** Choices that outlive the page: kept in localStorage, not in the URL. */
export interface Prefs {
  columns: number;
  view: "cards" | "list";
  /** NSFW models: left out, shown with their covers blurred (a click reveals one), or shown as they are. */
  nsfw: NsfwMode;
  detailsWidth: number; // percent of the window
}

const KEY = "hikaze.prefs";
const DEFAULTS: Prefs = { columns: 5, view: "cards", nsfw: "hide", detailsWidth: 30 };

export const MIN_COLUMNS = 2;
export const MAX_COLUMNS = 10;

export function clampColumns(n: number): number {
  return Math.min(MAX_COLUMNS, Math.max(MIN_COLUMNS, Math.round(Number.isFinite(n) ? n : DEFAULTS.columns)));
}

function load(): Prefs {
  try {
    // `hideNsfw` is the older checkbox's choice: unticked ("show NSFW") carries over as showing them.
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "{}") as Partial<Prefs> & { hideNsfw?: boolean };
    return {
      columns: clampColumns(saved.columns ?? DEFAULTS.columns),
      view: saved.view === "list" ? "list" : "cards",
      nsfw: nsfwMode(saved.nsfw, saved.hideNsfw),
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
