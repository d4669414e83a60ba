import type { DaemonEvent, ImportReport, PendingItem, PendingStatus, Strategy } from "../api/types";

/** The inbox's filter chips; `active` is every status but ignored. */
export const FILTERS = ["active", "ready", "conflicts", "errors", "ignored"] as const;
export type InboxFilter = (typeof FILTERS)[number];

const FILTER_STATUSES: Record<Exclude<InboxFilter, "active">, PendingStatus> = {
  ready: "ready",
  conflicts: "conflict",
  errors: "error",
  ignored: "ignored",
};

export function parseFilter(raw: string): InboxFilter {
  return (FILTERS as readonly string[]).includes(raw) ? (raw as InboxFilter) : "active";
}

export function inFilter(status: PendingStatus, filter: InboxFilter): boolean {
  return filter === "active" ? status !== "ignored" : status === FILTER_STATUSES[filter];
}

export const STATUSES: readonly PendingStatus[] = ["settling", "hashing", "ready", "conflict", "error", "ignored"];

function isStatus(value: unknown): value is PendingStatus {
  return typeof value === "string" && (STATUSES as readonly string[]).includes(value);
}

export const STRATEGIES: readonly Strategy[] = ["override", "merge", "ignore", "delete"];

export interface Progress {
  done: number;
  total: number;
}

/** The rows the inbox knows, by id, and the hashing progress of the rows being hashed. */
export interface InboxState {
  rows: Map<number, PendingItem>;
  progress: Map<number, Progress>;
}

export function baseName(path: string): string {
  return path.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? path;
}

/** A row known only from an event, until its full record is fetched. */
function stubRow(id: number, path: string, status: PendingStatus): PendingItem {
  return {
    id,
    path,
    name: baseName(path),
    type: "",
    size_bytes: 0,
    status,
    sha256: null,
    blake3: null,
    conflict_sha256: null,
    error: null,
    discovered_at: Date.now() / 1000,
    hashed_at: null,
  };
}

/**
 * Applies one daemon event to the state, at once (the status changes on screen without a round trip).
 * Returns the id whose full record should be fetched again (size, hashes and error are not in events), or null.
 */
export function applyEvent(state: InboxState, event: DaemonEvent): number | null {
  // The stream is parsed JSON: its fields are checked before they are trusted, whatever the spec promises.
  if (!("id" in event) || typeof event.id !== "number") return null;
  const id = event.id;
  switch (event.type) {
    case "pending.added":
    case "pending.updated": {
      const status = isStatus(event.status) ? event.status : undefined;
      const row = state.rows.get(id);
      if (row) {
        const patch: Partial<PendingItem> = {};
        if (status) patch.status = status;
        if (typeof event.path === "string") {
          patch.path = event.path;
          patch.name = baseName(event.path);
        }
        if (event.type === "pending.updated") {
          for (const key of ["sha256", "blake3", "conflict_sha256"] as const) {
            const value = event[key];
            if (typeof value === "string") patch[key] = value;
          }
        }
        state.rows.set(id, { ...row, ...patch });
      } else if (typeof event.path === "string") {
        state.rows.set(id, stubRow(id, event.path, status ?? "settling"));
      }
      if (status !== "hashing") state.progress.delete(id);
      return id;
    }
    case "pending.removed":
      state.rows.delete(id);
      state.progress.delete(id);
      return null;
    case "hash.progress": {
      const done = Number(event.bytes_done);
      const total = Number(event.bytes_total);
      if (!Number.isFinite(done) || !Number.isFinite(total)) return null;
      state.progress.set(id, { done, total });
      const row = state.rows.get(id);
      if (row && row.status !== "hashing") state.rows.set(id, { ...row, status: "hashing" });
      return null;
    }
    default:
      return null;
  }
}

/** The rows a filter shows, newest first (a file just dropped into a folder is at the top). */
export function visibleRows(
  rows: Iterable<PendingItem>,
  filter: InboxFilter,
  triage: Triage = NO_TRIAGE,
  roots: readonly string[] = [],
): PendingItem[] {
  const out: PendingItem[] = [];
  for (const row of rows) if (inFilter(row.status, filter) && inTriage(row, triage, roots)) out.push(row);
  return out.sort((a, b) => b.id - a.id);
}

/** The inbox's search box and its type and folder pickers; empty strings filter nothing. */
export interface Triage {
  q: string;
  type: string;
  /** Relative to the model folder the file is in, `/`-separated: `loras/characters`. */
  folder: string;
}

export const NO_TRIAGE: Triage = { q: "", type: "", folder: "" };

function slashes(path: string): string {
  return path.replace(/\\/g, "/").replace(/\/+$/, "");
}

/**
 * The folder a file is in, relative to the model folder that holds it (the deepest one): `loras/characters`, or ""
 * for a file at a model folder's top. A file in none of `roots` keeps its absolute folder.
 */
export function folderOf(path: string, roots: readonly string[]): string {
  const dir = slashes(path).split("/").slice(0, -1).join("/");
  let best: string | null = null;
  for (const raw of roots) {
    const root = slashes(raw);
    if ((dir === root || dir.startsWith(`${root}/`)) && (best === null || root.length > best.length)) best = root;
  }
  return best === null ? dir : dir.slice(best.length + 1);
}

export function inTriage(row: PendingItem, triage: Triage, roots: readonly string[]): boolean {
  if (triage.type && row.type.toLowerCase() !== triage.type.toLowerCase()) return false;
  if (triage.folder) {
    const folder = slashes(triage.folder);
    const dir = folderOf(row.path, roots);
    if (dir !== folder && !dir.startsWith(`${folder}/`)) return false;
  }
  const q = triage.q.trim().toLocaleLowerCase();
  return !q || row.name.toLocaleLowerCase().includes(q) || row.path.toLocaleLowerCase().includes(q);
}

/** The folders the pickers offer: every folder a row is in, and the folders above it, sorted. */
export function folderChoices(rows: Iterable<PendingItem>, roots: readonly string[]): string[] {
  const found = new Set<string>();
  for (const row of rows) {
    const parts = folderOf(row.path, roots).split("/");
    for (let i = 1; i <= parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      if (folder) found.add(folder);
    }
  }
  return [...found].sort((a, b) => a.localeCompare(b));
}

export function typeChoices(rows: Iterable<PendingItem>): string[] {
  const found = new Set<string>();
  for (const row of rows) if (row.type) found.add(row.type);
  return [...found].sort((a, b) => a.localeCompare(b));
}

/**
 * Rows waiting side by side with the same content (hashed, neither imported yet), each with the others: importing
 * both would make one model of them, which the user may not expect of two files they see as two.
 */
export function twinsOf(rows: Iterable<PendingItem>): Map<number, PendingItem[]> {
  const bySha = new Map<string, PendingItem[]>();
  for (const row of rows) {
    if (!row.sha256 || (row.status !== "ready" && row.status !== "conflict")) continue;
    const group = bySha.get(row.sha256);
    if (group) group.push(row);
    else bySha.set(row.sha256, [row]);
  }
  const twins = new Map<number, PendingItem[]>();
  for (const group of bySha.values()) {
    if (group.length < 2) continue;
    for (const row of group) twins.set(row.id, group.filter((other) => other.id !== row.id));
  }
  return twins;
}

/** A row the import would refuse until the user confirms: its file looks damaged (an error row says so itself). */
export function isDamaged(row: PendingItem | undefined): boolean {
  return Boolean(row?.damaged) && row?.status !== "error";
}

/** What the import did to one file, for the report's list. */
export type Outcome =
  | "new"
  | "merge"
  | "override"
  | "ignored"
  | "dropped"
  | "trashed"
  | "unresolved"
  | "refused"
  | "failed";

export interface ReportLine {
  id: number;
  outcome: Outcome;
  /** The reason (refused, failed) or the trashed file's path. */
  detail: string;
}

/**
 * The report as one line per file, in the order they were asked for; a file the report does not name is left out.
 * `strategies`: what the conflict dialog chose for a file, which is how an imported one went into its model.
 */
export function reportLines(
  report: ImportReport,
  order: readonly number[],
  strategies: ReadonlyMap<number, Strategy> = new Map(),
): ReportLine[] {
  const lines = new Map<number, ReportLine>();
  for (const { id } of report.imported) {
    const s = strategies.get(id);
    lines.set(id, { id, outcome: s === "merge" || s === "override" ? s : "new", detail: "" });
  }
  for (const id of report.ignored) lines.set(id, { id, outcome: "ignored", detail: "" });
  for (const id of report.deleted) lines.set(id, { id, outcome: "dropped", detail: "" });
  for (const t of report.trashed) lines.set(t.id, { id: t.id, outcome: "trashed", detail: t.path });
  for (const c of report.conflicts) lines.set(c.id, { id: c.id, outcome: "unresolved", detail: "" });
  for (const r of report.refused) lines.set(r.id, { id: r.id, outcome: "refused", detail: r.reason });
  for (const f of report.failed) lines.set(f.id, { id: f.id, outcome: "failed", detail: f.error });
  const rank = new Map(order.map((id, i) => [id, i]));
  return [...lines.values()].sort((a, b) => (rank.get(a.id) ?? order.length) - (rank.get(b.id) ?? order.length));
}

export function countByFilter(rows: Iterable<PendingItem>): Record<InboxFilter, number> {
  const counts: Record<InboxFilter, number> = { active: 0, ready: 0, conflicts: 0, errors: 0, ignored: 0 };
  for (const row of rows) for (const f of FILTERS) if (inFilter(row.status, f)) counts[f]++;
  return counts;
}

/**
 * Shift-click: every row from the anchor (the last row clicked) to `target`, both included, takes the state the
 * target's checkbox takes. Without an anchor in view, only the target toggles.
 */
export function selectRange<K>(
  selected: ReadonlySet<K>,
  order: readonly K[],
  anchor: K | null,
  target: K,
): Set<K> {
  const next = new Set(selected);
  const on = !selected.has(target);
  const from = anchor === null ? -1 : order.indexOf(anchor);
  const to = order.indexOf(target);
  if (from < 0 || to < 0) {
    if (on) next.add(target);
    else next.delete(target);
    return next;
  }
  for (let i = Math.min(from, to); i <= Math.max(from, to); i++) {
    const id = order[i] as K;
    if (on) next.add(id);
    else next.delete(id);
  }
  return next;
}

/** What a click on an inbox row does to it. */
export type RowClick = "open" | "toggle" | "range";

/**
 * A plain click only opens a row: looking at a file must not put it in what "Import selected" imports. The
 * checkbox and Ctrl/Cmd-click toggle one row, Shift-click (on the checkbox too) takes a range.
 */
export function rowClick(mods: { shiftKey: boolean; ctrlKey: boolean; metaKey: boolean }, onCheckbox: boolean): RowClick {
  if (mods.shiftKey) return "range";
  return onCheckbox || mods.ctrlKey || mods.metaKey ? "toggle" : "open";
}

export function toggle<K>(selected: ReadonlySet<K>, id: K): Set<K> {
  const next = new Set(selected);
  if (!next.delete(id)) next.add(id);
  return next;
}

/** The conflict dialog's choices as one request per strategy, in a fixed order. */
export function groupByStrategy(choices: ReadonlyMap<number, Strategy>): [Strategy, number[]][] {
  const groups: [Strategy, number[]][] = [];
  for (const strategy of STRATEGIES) {
    const ids = [...choices].filter(([, s]) => s === strategy).map(([id]) => id);
    if (ids.length) groups.push([strategy, ids]);
  }
  return groups;
}

export function emptyReport(): ImportReport {
  return { imported: [], conflicts: [], ignored: [], deleted: [], failed: [], refused: [], trashed: [] };
}

/**
 * Several import answers as one. A conflict from the first answer that a later answer settled is not a conflict
 * any more; the one still reported last wins.
 */
export function mergeReports(reports: readonly ImportReport[]): ImportReport {
  const out = emptyReport();
  const settled = new Set<number>();
  for (const r of reports) {
    out.imported.push(...r.imported);
    out.ignored.push(...r.ignored);
    out.deleted.push(...r.deleted);
    out.failed.push(...r.failed);
    out.refused.push(...r.refused);
    out.trashed.push(...r.trashed);
    for (const id of [...r.imported.map((i) => i.id), ...r.ignored, ...r.deleted, ...r.failed.map((f) => f.id)]) {
      settled.add(id);
    }
  }
  const conflicts = new Map<number, ImportReport["conflicts"][number]>();
  for (const r of reports) for (const c of r.conflicts) if (!settled.has(c.id)) conflicts.set(c.id, c);
  out.conflicts = [...conflicts.values()];
  return out;
}

export interface MetaRow {
  key: string;
  /** Text for a plain value (lists of plain values are joined); null when `nested` holds the value. */
  text: string | null;
  nested: unknown;
}

// Fields people look for first; the rest follow alphabetically, the raw file header last.
const META_FIRST = ["description", "trigger_words", "base_model", "prompts", "community_links", "notes", "nsfw"];
const META_LAST = ["sidecars", "header"];

function plain(value: unknown): value is string | number | boolean | null {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** meta_json as table rows: plain values as text, objects and lists of objects kept for a collapsible view. */
export function metaRows(meta: Record<string, unknown> | null | undefined): MetaRow[] {
  const rank = (key: string) => {
    const first = META_FIRST.indexOf(key);
    if (first >= 0) return first - 100;
    const last = META_LAST.indexOf(key);
    return last >= 0 ? 100 + last : 0;
  };
  return Object.keys(meta ?? {})
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((key) => {
      const value = (meta ?? {})[key];
      if (plain(value)) return { key, text: value === null ? "" : String(value), nested: null };
      if (Array.isArray(value) && value.every(plain)) return { key, text: value.join(", "), nested: null };
      return { key, text: null, nested: value };
    });
}

/** What a nested value's summary line says: how many entries it holds. */
export function nestedSize(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  return value && typeof value === "object" ? Object.keys(value).length : 0;
}

export function percent(p: Progress | undefined): number {
  if (!p || p.total <= 0) return 0;
  return Math.min(100, Math.max(0, Math.round((p.done / p.total) * 100)));
}

/** A list of text items from a meta field that may be a list or a comma-separated string. */
export function words(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string" && v.trim() !== "");
  if (typeof value === "string") return value.split(",").map((s) => s.trim()).filter(Boolean);
  return [];
}
