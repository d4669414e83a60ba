// Metadata from the web, as the page shows it: where a field came from, what the source said of the model, the
// generation parameters of its fetched images, what a fetch did, and how the background lookups stand. Everything
// under `meta_json.web` and in a lookup's answer came from a third party: it is read defensively (a value of the
// wrong type is absent) and shown as text, never as markup.
import type { LookupAnswer, LookupProgress, Meta, ModelFilter } from "../api/types";
import { filterObject, type BulkSelection } from "./bulk";
import { isHttpUrl } from "./details";

/** The user fields a fetch may fill, in the order the details show them. */
export const FETCHED_FIELDS = ["description", "community_links", "trigger_words", "nsfw"] as const;
export type FetchedField = (typeof FETCHED_FIELDS)[number];

/** Where a field's value came from and when (seconds since the epoch). */
export interface FetchedMark {
  source: string;
  at: number;
}

function record(value: unknown): Record<string, unknown> | null {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** The source's name as people write it; an unknown one as given. */
export function sourceName(source: unknown): string {
  if (source === "civitai") return "Civitai";
  if (source === "civarchive") return "CivArchive";
  return text(source);
}

/** A source and time as stored beside what came from the web; null when either is missing or malformed. */
function markOf(value: unknown): FetchedMark | null {
  const given = record(value);
  const source = text(given?.source);
  const at = given?.at;
  return source && typeof at === "number" && Number.isFinite(at) ? { source, at } : null;
}

/** The fields a fetch filled that the user has not edited since (`meta_json.fetched`), with source and time. */
export function fetchedMarks(meta: Meta | null | undefined): Partial<Record<FetchedField, FetchedMark>> {
  const fetched = record(meta?.fetched);
  const out: Partial<Record<FetchedField, FetchedMark>> = {};
  if (!fetched) return out;
  for (const field of FETCHED_FIELDS) {
    const mark = markOf(fetched[field]);
    if (mark) out[field] = mark;
  }
  return out;
}

/** Where the model's base model came from, while it is the one a fetch gave (`meta_json.fetched.base_model`). */
export function baseModelMark(meta: Meta | null | undefined): FetchedMark | null {
  return markOf(record(meta?.fetched)?.base_model);
}

/**
 * The tags fetches added that the model still has, by their name in lower case (tags compare without regard to
 * case), each with the source and time of the fetch that added it (`meta_json.fetched.tags`).
 */
export function tagMarks(meta: Meta | null | undefined): Map<string, FetchedMark> {
  const groups = record(meta?.fetched)?.tags;
  const out = new Map<string, FetchedMark>();
  if (!Array.isArray(groups)) return out;
  for (const group of groups) {
    const mark = markOf(group);
    const names = record(group)?.names;
    if (!mark || !Array.isArray(names)) continue;
    for (const name of names) {
      if (typeof name === "string" && !out.has(name.toLowerCase())) out.set(name.toLowerCase(), mark);
    }
  }
  return out;
}

/** Where and when each image a fetch took came from (`meta_json.web.images`), by the image's number. */
export function imageMarks(meta: Meta | null | undefined): Map<number, FetchedMark> {
  const images = record(meta?.web)?.images;
  const out = new Map<number, FetchedMark>();
  if (!Array.isArray(images)) return out;
  for (const item of images) {
    const seq = record(item)?.seq;
    const mark = markOf(item);
    if (typeof seq === "number" && Number.isInteger(seq) && mark) out.set(seq, mark);
  }
  return out;
}

/** What the last source that knew the file said of it (`meta_json.web`), as the details show it. */
export interface WebInfo {
  source: string;
  modelName: string;
  versionName: string;
  /** The model's page at the source; null unless it is an http(s) address (never a `javascript:` one). */
  pageUrl: string | null;
  baseModel: string;
  /** The source says the model was taken off Civitai. */
  deleted: boolean;
  /** A sha256 the source lists for this file that is not the file's own (reported, never adopted). */
  listedSha256: string | null;
  checkedAt: number | null;
}

export function webInfo(meta: Meta | null | undefined): WebInfo | null {
  const web = record(meta?.web);
  if (!web) return null;
  const page = text(web.page_url).trim();
  const listed = text(web.listed_sha256).trim();
  const checked = web.checked_at;
  return {
    source: text(web.source),
    modelName: text(web.model_name),
    versionName: text(web.version_name),
    pageUrl: page && isHttpUrl(page) ? page : null,
    baseModel: text(web.base_model),
    deleted: web.deleted === true,
    listedSha256: listed || null,
    checkedAt: typeof checked === "number" && Number.isFinite(checked) ? checked : null,
  };
}

/** The generation parameters shown for an image, in this order; each may go by several names at the sources. */
export const PARAMS = [
  ["prompt", ["prompt"]],
  ["negative", ["negativePrompt", "negative_prompt"]],
  ["seed", ["seed"]],
  ["steps", ["steps"]],
  ["sampler", ["sampler", "sampler_name"]],
  ["cfg", ["cfgScale", "cfg_scale"]],
  ["size", ["Size", "size"]],
] as const;
export type ParamKey = (typeof PARAMS)[number][0];

export interface GenerationParam {
  key: ParamKey;
  value: string;
}

/** A parameter's value as text: a string as given, a finite number written out; anything else is not shown. */
function paramText(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

/** The generation parameters of each image a fetch took (`meta_json.web.images`), by the image's number. */
export function generationParams(meta: Meta | null | undefined): Map<number, GenerationParam[]> {
  const images = record(meta?.web)?.images;
  const out = new Map<number, GenerationParam[]>();
  if (!Array.isArray(images)) return out;
  for (const item of images) {
    const image = record(item);
    const seq = image?.seq;
    const given = record(image?.meta);
    if (typeof seq !== "number" || !Number.isInteger(seq) || !given) continue;
    const params: GenerationParam[] = [];
    for (const [key, names] of PARAMS) {
      const value = names.map((name) => paramText(given[name])).find((v) => v !== "");
      if (value) params.push({ key, value });
    }
    if (params.length) out.set(seq, params);
  }
  return out;
}

/** What one fetch did, for the message that says so. */
export type FetchOutcome =
  | { kind: "found"; source: string; fields: FetchedField[]; tags: number; images: number }
  | { kind: "not_found"; remembered: boolean; checkedAt: number };

export function fetchOutcome(answer: LookupAnswer): FetchOutcome {
  if (answer.state !== "found") {
    return { kind: "not_found", remembered: answer.remembered, checkedAt: answer.checked_at };
  }
  const changed = answer.changed;
  const filled = new Set(changed?.fields ?? []);
  return {
    kind: "found",
    source: answer.source ?? "",
    fields: FETCHED_FIELDS.filter((f) => filled.has(f)),
    tags: changed?.tags.length ?? 0,
    images: changed?.images ?? 0,
  };
}

/** A found record that changed nothing (everything it offers is there already, or the user's). */
export function nothingNew(outcome: FetchOutcome): boolean {
  return outcome.kind === "found" && !outcome.fields.length && !outcome.tags && !outcome.images;
}

/** Whether the lookups' progress is worth a line: they run, or some wait. */
export function progressShown(progress: LookupProgress | null | undefined): boolean {
  return !!progress && (progress.running || progress.queued > 0);
}

/** How many lookups this run holds: those done and those still waiting. */
export function progressTotal(progress: LookupProgress): number {
  return progress.done + progress.queued;
}

export const IDLE: LookupProgress = {
  queued: 0,
  running: false,
  done: 0,
  found: 0,
  not_found: 0,
  failed: 0,
  last_error: null,
};

/** The daemon takes at most this many sha256s a request. */
export const MAX_QUEUED_SHAS = 500;

/** One page of the models a filter matches (their sha256s), and where the next starts (null at the end). */
export type ListPage = (after: string | null) => Promise<{ shas: string[]; next: string | null }>;

/**
 * Queues the lookups of a bulk selection: the models named, in requests of at most `MAX_QUEUED_SHAS`; the whole
 * filter as one `filter`; a filter with some models taken out again (the daemon takes no exceptions) as the
 * sha256s of its pages but those. The daemon's count of the lookups waiting after the last request, or null when
 * there was nothing to send.
 */
export async function queueSelection(
  send: (body: { sha256s: string[] } | { filter: Record<string, string | string[]> }) => Promise<{ queued: number }>,
  sel: BulkSelection,
  filter: ModelFilter,
  list: ListPage,
): Promise<number | null> {
  let queued: number | null = null;
  const sendShas = async (shas: string[]) => {
    for (let i = 0; i < shas.length; i += MAX_QUEUED_SHAS) {
      queued = (await send({ sha256s: shas.slice(i, i + MAX_QUEUED_SHAS) })).queued;
    }
  };
  if (!sel.all) {
    await sendShas([...sel.picked]);
    return queued;
  }
  if (!sel.except.size) return (await send({ filter: filterObject(filter) })).queued;
  let after: string | null = null;
  let batch: string[] = [];
  do {
    const page: { shas: string[]; next: string | null } = await list(after);
    batch.push(...page.shas.filter((s) => !sel.except.has(s)));
    if (batch.length >= MAX_QUEUED_SHAS) {
      const whole = batch.length - (batch.length % MAX_QUEUED_SHAS);
      await sendShas(batch.slice(0, whole));
      batch = batch.slice(whole);
    }
    after = page.next;
  } while (after !== null);
  await sendShas(batch);
  return queued;
}

/** The daemon takes at most this many files of the queue a request. */
export const MAX_QUEUED_PENDING = 10_000;

/**
 * Queues the lookups of files of the queue: those among `rows` that are hashed (the others cannot be looked up by
 * their content yet), in requests of at most `MAX_QUEUED_PENDING`. The daemon's count of the lookups waiting after
 * the last request, or null when no row was hashed.
 */
export async function queuePending(
  send: (body: { pending_ids: number[] }) => Promise<{ queued: number }>,
  rows: Iterable<{ id: number; sha256: string | null }>,
): Promise<number | null> {
  const ids = [...rows].filter((r) => r.sha256 !== null).map((r) => r.id);
  let queued: number | null = null;
  for (let i = 0; i < ids.length; i += MAX_QUEUED_PENDING) {
    queued = (await send({ pending_ids: ids.slice(i, i + MAX_QUEUED_PENDING) })).queued;
  }
  return queued;
}
