/**
 * "Use the names found here": each `elsewhere` reference of a workflow check written into the widget that holds it.
 * Pure over graph-shaped objects (nodes found by id, widgets by name, rgthree rows by name or place), so it is tested without
 * ComfyUI. A widget is written only while it still names what the check saw; anything else is left as it is, with
 * the reason, since the user may have typed over it since.
 */
import type { WorkflowReference } from "../src/api/types";
import { referencePlace } from "../src/logic/workflowCheck";
import type { ComfyWidget } from "./comfy";
import { fitsEntry, readLoraText } from "./loraText";

export const PAYLOAD_WIDGET = "hikaze_payload";
const LORA_TEXT_WIDGET = "lora_text";
const HIKAZE_LORAS = "HikazeLoraPowerLoader";
const RGTHREE_LORAS = "Power Lora Loader (rgthree)";
// The check names an rgthree row by its widget's name where the workflow saved the names, else lora_N by its place N
// among the node's LoRA rows (see rgthreeRow).
const RGTHREE_ROW = /^lora_(\d+)$/;
// The LoRA payload's list, under its name or the first version's aliases (nodes/payload.py reads the same).
const LIST_KEYS = ["loras", "LoRAs", "LoRAList", "loRAList"];
const HIKAZE_FIELDS = ["name", "full_path", "sha256", "strength_model", "strength_clip", "enabled"];

export interface RewriteGraph {
  getNodeById?: (id: number | string) => RewriteNode | null | undefined;
}

export interface RewriteNode {
  widgets?: ComfyWidget[];
  onWidgetChanged?: (name: string, value: unknown, oldValue: unknown, widget: ComfyWidget) => void;
  /** A subgraph node's inner graph (ComfyUI front end 1.24+). */
  subgraph?: RewriteGraph | null;
}

/** The node a reference names: "12", or "5:12" for node 12 inside the subgraph of node 5 (deeper: "5:7:12"). */
export function findNode(graph: RewriteGraph | null | undefined, nodeId: string): RewriteNode | null {
  let current: RewriteGraph | null | undefined = graph;
  let node: RewriteNode | null = null;
  for (const part of nodeId.split(":")) {
    if (!current?.getNodeById) return null;
    // Litegraph keys its nodes by number; an id that is not one (a UUID) is asked for as it is.
    node = current.getNodeById(/^\d+$/.test(part) ? Number(part) : part) ?? null;
    if (!node) return null;
    current = node.subgraph;
  }
  return node;
}

/** Where an `elsewhere` entry can be rewritten, and the name the user chose among its choices. */
export interface Rewrite {
  ref: WorkflowReference;
  use: string;
}

/** The `elsewhere` references with the name to write: the user's pick among `choices`, else the daemon's `use`. */
export function planRewrites(refs: readonly WorkflowReference[], picked: ReadonlyMap<WorkflowReference, string>): Rewrite[] {
  return refs.flatMap((ref) => {
    if (ref.status !== "elsewhere") return [];
    const use = picked.get(ref) ?? ref.use;
    return use ? [{ ref, use }] : [];
  });
}

/** The absolute path of `use`: the daemon's own `path`, or the file of the choice the user picked. */
export function pathFor(ref: WorkflowReference, use: string): string | null {
  if (use === ref.use) return ref.path;
  const picked = ref.choices.indexOf(use);
  return picked < 0 ? null : (ref.choice_paths[picked] ?? null);
}

export type NewValue = { value: unknown } | { skipped: string };

/** A widget's value as the report shows it. */
function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

/** What a payload entry names, as the daemon's check reads it: its name, else its saved path. */
function namedBy(fields: Record<string, unknown>, nameKeys: readonly string[], pathKey: string): string {
  for (const key of nameKeys) {
    const name = text(fields[key]);
    if (name) return name;
  }
  return text(fields[pathKey]);
}

function rowsOf(doc: unknown): unknown[] | null {
  if (Array.isArray(doc)) return doc;
  if (!doc || typeof doc !== "object") return null;
  const key = LIST_KEYS.find((k) => k in doc);
  const rows = key ? (doc as Record<string, unknown>)[key] : undefined;
  return Array.isArray(rows) ? rows : null;
}

/**
 * The sha256 a payload entry takes with the file `use` names: the node outputs that content's trigger words and
 * counts its uses, so the old content's sha256 beside a new path would credit the wrong model. Found by sha256,
 * every choice is that content; else the answer names the model of `use` alone, and "" says the content is unknown.
 */
function sha256For(ref: WorkflowReference, use: string): string {
  if (ref.by === "sha256" && ref.sha256) return ref.sha256;
  return (use === ref.use ? ref.model?.sha256 : undefined) ?? "";
}

/** Sets the entry's sha256, adding the field only when there is one to say. */
function setSha256(fields: Record<string, unknown>, sha256: string): void {
  if (sha256 || "sha256" in fields) fields.sha256 = sha256;
}

/** Our payload with one entry's file changed, everything else as it was (the order of fields too). */
function payloadValue(ref: WorkflowReference, current: unknown, use: string): NewValue {
  if (typeof current !== "string") return { skipped: "the payload is not text" };
  let doc: unknown;
  try {
    doc = JSON.parse(current);
  } catch {
    return { skipped: "the payload is not valid JSON any more" };
  }
  const path = pathFor(ref, use);
  if (ref.entry === null) {
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) return { skipped: "the payload is not a checkpoint" };
    const fields = doc as Record<string, unknown>;
    const names = namedBy(fields, ["name"], "ckpt_path");
    if (names !== ref.name) return { skipped: `the payload names ${names || "no file"} now, not ${ref.name}` };
    if (!path) return { skipped: "the daemon named no file for it" };
    fields.ckpt_path = path;
    setSha256(fields, sha256For(ref, use));
  } else {
    const row = rowsOf(doc)?.[ref.entry - 1];
    if (!row || typeof row !== "object") return { skipped: `the payload has no entry ${ref.entry} any more` };
    const fields = row as Record<string, unknown>;
    const names = namedBy(fields, ["name", "lora"], "full_path");
    if (names !== ref.name) {
      return { skipped: `payload entry ${ref.entry} names ${names || "no file"} now, not ${ref.name}` };
    }
    // An rgthree-shaped row in our payload names its file by `lora`; a full_path beside it would mix the shapes.
    if ("lora" in fields && !HIKAZE_FIELDS.some((f) => f in fields)) {
      fields.lora = use;
    } else {
      if (!path) return { skipped: "the daemon named no file for it" };
      fields.full_path = path;
      setSha256(fields, sha256For(ref, use));
    }
  }
  // Written back as it was laid out: the picker's documents are indented, hand-typed ones often are not.
  return { value: current.includes("\n") ? JSON.stringify(doc, null, 2) : JSON.stringify(doc) };
}

/** The LoRA text with the name inside one entry changed; the prompt around it and the weights stay as written. */
function loraTextValue(ref: WorkflowReference, entryNumber: number, current: unknown, use: string): NewValue {
  if (typeof current !== "string") return { skipped: "the LoRA text is not text" };
  const read = readLoraText(current);
  if ("unreadable" in read) return { skipped: `the LoRA text has an entry the node cannot read (${read.unreadable})` };
  const entry = read.entries[entryNumber - 1];
  if (!entry) return { skipped: `the LoRA text has no entry ${entryNumber} any more` };
  if (entry.name !== ref.name) {
    return { skipped: `LoRA text entry ${entryNumber} is ${entry.written} now, not ${ref.name}` };
  }
  if (!fitsEntry(use)) return { skipped: `the name ${use} cannot be written into a <lora:...> entry` };
  return { value: current.slice(0, entry.nameStart) + use + current.slice(entry.nameEnd) };
}

/** The value a widget takes for a rewrite, or why it is left as it is. Nothing is written over a value that no
 * longer names what the check saw: the user may have changed it since. */
export function rewrittenValue(ref: WorkflowReference, current: unknown, use: string): NewValue {
  if (ref.widget === PAYLOAD_WIDGET) return payloadValue(ref, current, use);
  if (ref.entry !== null) {
    if (ref.widget === LORA_TEXT_WIDGET && ref.node_type === HIKAZE_LORAS) {
      return loraTextValue(ref, ref.entry, current, use);
    }
    // A list or text of another pack: its shape is not ours to rebuild, and writing the name over it loses the rest.
    return { skipped: `entries of ${ref.node_type}'s ${ref.widget} are not rewritten here; pick ${use} in the node` };
  }
  if (ref.node_type === RGTHREE_LORAS && RGTHREE_ROW.test(ref.widget)) {
    if (!isLoraRow(current)) return { skipped: "the row is not a LoRA row" };
    if (current.lora !== ref.name) return { skipped: `the row holds ${shown(current.lora)} now, not ${ref.name}` };
    return { value: { ...current, lora: use } };
  }
  if (current !== ref.name) return { skipped: `it holds ${shown(current)} now, not ${ref.name}` };
  return { value: use };
}

function isLoraRow(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && "lora" in value;
}

/**
 * The widget an rgthree reference is about. rgthree names its rows from a counter that only goes up and never
 * renames one (remove, move up or down), so lora_2 may be the first row. A newer front end saves the widgets' names
 * and the check reports those; an older one saves the values only and the check counts the rows. The widget of that
 * name is the row when it holds the reference's LoRA; else the row at that place.
 */
function rgthreeRow(node: RewriteNode, ref: WorkflowReference, place: number): ComfyWidget | string {
  const named = node.widgets?.find((w) => w.name === ref.widget);
  if (named && isLoraRow(named.value) && named.value.lora === ref.name) return named;
  const rows = (node.widgets ?? []).filter((w) => isLoraRow(w.value));
  return rows[place - 1] ?? `the node has no LoRA row ${place} any more`;
}

/** The widget a reference is about, or why there is none. */
function widgetOf(node: RewriteNode, ref: WorkflowReference): ComfyWidget | string {
  const row = RGTHREE_ROW.exec(ref.widget);
  if (row && ref.node_type === RGTHREE_LORAS) return rgthreeRow(node, ref, Number(row[1]));
  return node.widgets?.find((w) => w.name === ref.widget) ?? `no widget ${ref.widget}`;
}

export interface RewriteReport {
  changed: number;
  skipped: { ref: WorkflowReference; reason: string }[];
}

/**
 * Writes every rewrite into its widget the way an edit would (value, callback, the node's change hook). Entries
 * of one payload are applied one after the other, each to what the one before left.
 */
export function applyRewrites(graph: RewriteGraph | null | undefined, rewrites: readonly Rewrite[]): RewriteReport {
  const report: RewriteReport = { changed: 0, skipped: [] };
  for (const { ref, use } of rewrites) {
    const node = findNode(graph, ref.node_id);
    if (!node) {
      report.skipped.push({ ref, reason: `no node ${ref.node_id} in the graph` });
      continue;
    }
    const widget = widgetOf(node, ref);
    if (typeof widget === "string") {
      report.skipped.push({ ref, reason: widget });
      continue;
    }
    const next = rewrittenValue(ref, widget.value, use);
    if ("skipped" in next) {
      report.skipped.push({ ref, reason: next.skipped });
      continue;
    }
    const old = widget.value;
    widget.value = next.value;
    widget.callback?.(next.value);
    node.onWidgetChanged?.(widget.name, next.value, old, widget);
    report.changed++;
  }
  return report;
}

/** What the dialog says after a rewrite: how many widgets changed, and each entry left alone with the reason. */
export function reportText(report: RewriteReport): string {
  const changed = `Changed ${report.changed} widget${report.changed === 1 ? "" : "s"}`;
  const left = report.skipped.length;
  if (!left) return `${changed}.`;
  const lines = report.skipped.map(({ ref, reason }) => `• ${referencePlace(ref)}, ${ref.name}: ${reason}.`);
  return [`${changed}; left ${left} ${left === 1 ? "entry as it was" : "entries as they were"}:`, ...lines].join("\n");
}
