// Bulk work in the library: which cards are chosen, and one change sent for all of them a chunk at a time.
import type { ModelFilter } from "../api/types";
import { selectRange, toggle } from "./inbox";

/**
 * The cards chosen: either the ones named (`picked`), or every model of the current filter but the ones taken out
 * again (`all` with `except`), so "Select all" in a filter of 100,000 models holds no list of them in the page.
 */
export interface BulkSelection {
  all: boolean;
  picked: ReadonlySet<string>;
  except: ReadonlySet<string>;
}

export const EMPTY: BulkSelection = { all: false, picked: new Set(), except: new Set() };

export function isChecked(sel: BulkSelection, sha256: string): boolean {
  return sel.all ? !sel.except.has(sha256) : sel.picked.has(sha256);
}

/** How many models the selection holds, given how many the filter matches. */
export function selectedCount(sel: BulkSelection, total: number): number {
  return sel.all ? Math.max(0, total - sel.except.size) : sel.picked.size;
}

/** In "all" mode a toggle takes a card out (or back in); otherwise it toggles it in the named set. */
export function toggleOne(sel: BulkSelection, sha256: string): BulkSelection {
  return sel.all ? { ...sel, except: toggle(sel.except, sha256) } : { ...sel, picked: toggle(sel.picked, sha256) };
}

/**
 * Shift-click: the cards from the anchor to the target (in the grid's order, `order` being the cards loaded around
 * them) take the state the target takes, as the inbox's rows do.
 */
export function selectSpan(
  sel: BulkSelection,
  order: readonly string[],
  anchor: string | null,
  target: string,
): BulkSelection {
  if (!sel.all) return { ...sel, picked: selectRange(sel.picked, order, anchor, target) };
  // Taken out is the inverse of chosen: a range that turns cards on takes them out of `except`.
  const chosen = new Set(order.filter((s) => !sel.except.has(s)));
  const after = selectRange(chosen, order, anchor, target);
  const except = new Set(sel.except);
  for (const s of order) {
    if (after.has(s)) except.delete(s);
    else except.add(s);
  }
  return { ...sel, except };
}

/** A rectangle drawn over the cards: those it touches are chosen, added to the earlier choice when `keep`. */
export function selectSwept(sel: BulkSelection, swept: readonly string[], keep: boolean): BulkSelection {
  if (sel.all && keep) {
    const except = new Set(sel.except);
    for (const s of swept) except.delete(s);
    return { ...sel, except };
  }
  return { all: false, picked: new Set([...(keep ? sel.picked : []), ...swept]), except: new Set() };
}

export type BulkAction =
  | "tags_add"
  | "tags_remove"
  | "set_base_model"
  | "set_nsfw"
  | "set_favorite"
  | "remove"
  | "trash";

export interface BulkArgs {
  tags?: string[];
  base_model?: string;
  nsfw?: boolean;
  favorite?: boolean;
}

export interface BulkResult {
  sha256: string;
  ok: boolean;
  error?: string;
}

export interface BulkAnswer {
  results: BulkResult[];
  done: number;
  failed: number;
  next?: string | null;
  total?: number;
}

/** The request body of POST /api/models/bulk. */
export type BulkBody = BulkArgs & {
  action: BulkAction;
  sha256s?: string[];
  filter?: Record<string, string | string[]>;
  except?: string[];
  after?: string | null;
  limit?: number;
};

export const CHUNK = 100; // models a request; the progress bar moves after each

/** The filter as GET /api/models reads it, as the bulk route takes it (strings). */
export function filterObject(filter: ModelFilter): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (filter.q.trim()) out.q = filter.q.trim();
  if (filter.type) out.type = filter.type;
  if (filter.base_model) out.base_model = filter.base_model;
  if (filter.tags.length) out.tags = filter.tags.join(",");
  if (filter.exclude_tags.length) out.exclude_tags = filter.exclude_tags.join(",");
  if (filter.status !== "ok") out.status = filter.status;
  if (filter.hide_nsfw) out.hide_nsfw = "true";
  if (filter.favorite) out.favorite = "true";
  if (filter.folder) out.folder = filter.folder;
  // A selection of what went unused is exactly what was listed: "select all" and trash must never reach the rest,
  // nor a model that crossed the line since the list loaded (the listing's own cut-off goes, when there is one).
  if (filter.unused_before) out.unused_before = String(filter.unused_before);
  else if (filter.unused_days) out.unused_days = String(filter.unused_days);
  return out;
}

export interface BulkReport {
  done: number;
  failed: BulkResult[];
}

/**
 * Sends one change for the whole selection, `CHUNK` models a request: named models in slices, a filter page by
 * page (the daemon walks it in sha256 order and says where the next page starts). `progress(done, of)` follows
 * each answer; `of` is known from the first.
 */
export async function runBulk(
  send: (body: BulkBody) => Promise<BulkAnswer>,
  sel: BulkSelection,
  filter: ModelFilter,
  total: number,
  action: BulkAction,
  args: BulkArgs,
  progress: (done: number, of: number) => void,
): Promise<BulkReport> {
  const report: BulkReport = { done: 0, failed: [] };
  let of = selectedCount(sel, total);
  const take = (answer: BulkAnswer): void => {
    report.done += answer.done;
    report.failed.push(...answer.results.filter((r) => !r.ok));
    progress(report.done + report.failed.length, of);
  };
  progress(0, of);
  if (!sel.all) {
    const shas = [...sel.picked];
    for (let i = 0; i < shas.length; i += CHUNK) {
      take(await send({ action, ...args, sha256s: shas.slice(i, i + CHUNK) }));
    }
    return report;
  }
  const base: BulkBody = { action, ...args, filter: filterObject(filter), except: [...sel.except], limit: CHUNK };
  let after: string | null = null;
  do {
    const answer: BulkAnswer = await send(after === null ? base : { ...base, after });
    if (answer.total !== undefined) of = answer.total;
    take(answer);
    after = answer.next ?? null;
  } while (after !== null);
  return report;
}
