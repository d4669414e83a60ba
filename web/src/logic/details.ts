import type {
  GuardedFields,
  ImageUrls,
  MetaListEdit,
  MetaPatch,
  ModelDetail,
  ModelImage,
  ModelPatch,
} from "../api/types";

/** What the details editor lets a user change, flattened out of a `ModelDetail`. */
export interface DetailsForm {
  name: string;
  tags: string[];
  description: string;
  notes: string;
  communityLinks: string[];
  positive: string;
  negative: string;
  triggerWords: string[];
  nsfw: boolean;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export function formFromDetail(detail: ModelDetail): DetailsForm {
  const meta = detail.meta_json ?? {};
  const prompts = meta.prompts && typeof meta.prompts === "object" ? meta.prompts : {};
  return {
    name: detail.name,
    tags: [...detail.tags],
    description: text(meta.description),
    notes: text(meta.notes),
    communityLinks: strings(meta.community_links),
    positive: text(prompts.positive),
    negative: text(prompts.negative),
    triggerWords: strings(meta.trigger_words),
    nsfw: meta.nsfw === true,
  };
}

export function cloneForm(form: DetailsForm): DetailsForm {
  return {
    ...form,
    tags: [...form.tags],
    communityLinks: [...form.communityLinks],
    triggerWords: [...form.triggerWords],
  };
}

/** Links as the daemon keeps them: trimmed, without blanks or repeats (an empty row being typed is no change). */
export function cleanLinks(links: readonly string[]): string[] {
  const out: string[] = [];
  for (const link of links) {
    const l = link.trim();
    if (l && !out.includes(l)) out.push(l);
  }
  return out;
}

/** The items of `a` that `b` lacks; `key` says which items are one (tags are one whatever their case). */
function missingFrom(a: readonly string[], b: readonly string[], key: (v: string) => string = (v) => v): string[] {
  const inB = new Set(b.map(key));
  return a.filter((v) => !inB.has(key(v)));
}

const lower = (v: string): string => v.toLowerCase();

/** The PATCH body that turns `original` into `edited`: only the fields that differ, so a save never overwrites
 *  what it did not touch (another tab's edit of the notes survives this tab's rename). Lists go as the items added
 *  and removed, never whole: another tab's added tag or trigger word survives this tab's own addition. */
export function buildPatch(original: DetailsForm, edited: DetailsForm): ModelPatch {
  const patch: ModelPatch = {};
  const name = edited.name.trim();
  if (name !== original.name.trim()) patch.name = name;
  const tagsAdd = missingFrom(edited.tags, original.tags, lower);
  const tagsRemove = missingFrom(original.tags, edited.tags, lower);
  if (tagsAdd.length) patch.tags_add = tagsAdd;
  if (tagsRemove.length) patch.tags_remove = tagsRemove;

  const meta: MetaPatch = {};
  if (edited.description !== original.description) meta.description = edited.description;
  if (edited.notes !== original.notes) meta.notes = edited.notes;
  if (edited.nsfw !== original.nsfw) meta.nsfw = edited.nsfw;
  // The daemon merges `prompts` key by key, so one changed prompt is sent alone.
  if (edited.positive !== original.positive || edited.negative !== original.negative) {
    meta.prompts = {};
    if (edited.positive !== original.positive) meta.prompts.positive = edited.positive;
    if (edited.negative !== original.negative) meta.prompts.negative = edited.negative;
  }
  if (Object.keys(meta).length) patch.meta_json = meta;

  const lists: [keyof MetaListEdit, string[], string[]][] = [
    ["trigger_words", original.triggerWords, edited.triggerWords],
    ["community_links", cleanLinks(original.communityLinks), cleanLinks(edited.communityLinks)],
  ];
  const add: MetaListEdit = {};
  const remove: MetaListEdit = {};
  for (const [key, before, after] of lists) {
    const added = missingFrom(after, before);
    const removed = missingFrom(before, after);
    if (added.length) add[key] = added;
    if (removed.length) remove[key] = removed;
  }
  if (Object.keys(add).length) patch.meta_add = add;
  if (Object.keys(remove).length) patch.meta_remove = remove;
  return patch;
}

/** The single-valued fields of the form, which a save guards against another tab's save of the same field. */
export type GuardedField = "name" | "description" | "notes" | "nsfw" | "positive" | "negative";

/** `patch` with the values `original` had for each single-valued field it changes, so that the daemon refuses
 *  the save (409) when another tab saved one of them meanwhile, instead of this save silently replacing it. */
export function withGuard(original: DetailsForm, patch: ModelPatch): ModelPatch {
  const guard: GuardedFields = {};
  if (patch.name !== undefined) guard.name = original.name;
  const meta = patch.meta_json ?? {};
  const guardMeta: NonNullable<GuardedFields["meta_json"]> = {};
  if (meta.description !== undefined) guardMeta.description = original.description;
  if (meta.notes !== undefined) guardMeta.notes = original.notes;
  if (meta.nsfw !== undefined) guardMeta.nsfw = original.nsfw;
  if (meta.prompts) {
    guardMeta.prompts = {};
    if (meta.prompts.positive !== undefined) guardMeta.prompts.positive = original.positive;
    if (meta.prompts.negative !== undefined) guardMeta.prompts.negative = original.negative;
  }
  if (Object.keys(guardMeta).length) guard.meta_json = guardMeta;
  return Object.keys(guard).length ? { ...patch, if_unchanged: guard } : patch;
}

/** A field another tab saved meanwhile, with the value it saved. */
export interface ChangedField {
  field: GuardedField;
  theirs: string | boolean;
}

/** The fields a 409 answer names, in the form's order; anything unexpected in it is left out. */
export function changedFields(body: unknown): ChangedField[] {
  const changed = (body as { changed?: GuardedFields } | undefined)?.changed;
  if (!changed || typeof changed !== "object") return [];
  const meta = changed.meta_json ?? {};
  const prompts = meta.prompts ?? {};
  const found: [GuardedField, unknown][] = [
    ["name", changed.name],
    ["description", meta.description],
    ["positive", prompts.positive],
    ["negative", prompts.negative],
    ["nsfw", meta.nsfw],
    ["notes", meta.notes],
  ];
  return found
    .filter(([, v]) => typeof v === "string" || typeof v === "boolean")
    .map(([field, theirs]) => ({ field, theirs: theirs as string | boolean }));
}

/** `original` with the other tab's values for `changed`: saving the edited form against it then replaces
 *  theirs with what this tab typed (a field this tab left as theirs is no longer a change). */
export function rebase(original: DetailsForm, changed: readonly ChangedField[]): DetailsForm {
  const out = cloneForm(original);
  for (const { field, theirs } of changed) {
    if (field === "nsfw") out.nsfw = theirs === true;
    else out[field] = String(theirs);
  }
  return out;
}

export function isEmptyPatch(patch: ModelPatch): boolean {
  return Object.keys(patch).length === 0;
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value.trim());
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== "";
  } catch {
    return false;
  }
}

export type FormProblem = "nameEmpty" | "badLink";

/** What keeps a form from being saved; the daemon checks the rest (tag lengths, sizes) and says why. */
export function formProblems(form: DetailsForm): FormProblem[] {
  const problems: FormProblem[] = [];
  if (!form.name.trim()) problems.push("nameEmpty");
  if (cleanLinks(form.communityLinks).some((l) => !isHttpUrl(l))) problems.push("badLink");
  return problems;
}

/** `list` with the comma-separated names in `raw` appended; blanks and case-insensitive repeats are dropped. */
export function addChips(list: readonly string[], raw: string): string[] {
  const out = [...list];
  for (const part of raw.split(/[,，]/)) {
    const chip = part.trim();
    if (chip && !out.some((c) => c.toLowerCase() === chip.toLowerCase())) out.push(chip);
  }
  return out;
}

/** Whether `word` is one of `words` already; trigger words compare without regard to case, as chips do. */
export function hasWord(words: readonly string[], word: string): boolean {
  const lower = word.trim().toLowerCase();
  return words.some((w) => w.toLowerCase() === lower);
}

/** `words` with a training tag made a trigger word, whole: a caption is one tag even with a comma in it. */
export function promoteTag(words: readonly string[], tag: string): string[] {
  const word = tag.trim();
  return !word || hasWord(words, word) ? [...words] : [...words, word];
}

/** Existing tags containing `query` (case-insensitive), those starting with it first, without the ones chosen. */
export function suggestTags(all: readonly string[], query: string, chosen: readonly string[], limit = 10): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const taken = new Set(chosen.map((c) => c.toLowerCase()));
  const starts: string[] = [];
  const contains: string[] = [];
  for (const name of all) {
    const lower = name.toLowerCase();
    if (taken.has(lower)) continue;
    if (lower.startsWith(q)) starts.push(name);
    else if (lower.includes(q)) contains.push(name);
  }
  return [...starts, ...contains].slice(0, limit);
}

/** Where a chip came from when not from the user (a sidecar file, a fetch from the web): a word, and a tooltip. */
export interface ChipMark {
  /** What the mark stands for, for tests and styles: `sidecar`, or the web source's id. */
  from: string;
  label: string;
  title: string;
}

export function isNewTag(tag: string, all: readonly string[]): boolean {
  const lower = tag.toLowerCase();
  return !all.some((t) => t.toLowerCase() === lower);
}

/** The image the cover URLs point at, or null. */
export function coverSeq(images: readonly ModelImage[], cover: ImageUrls | null): number | null {
  if (!cover) return null;
  return images.find((i) => i.urls.high === cover.high)?.seq ?? null;
}

/** Where the gallery stands: on the image it showed if that is still there, else at the same place clamped to
 *  the list (after a delete, the next image). */
export function galleryIndex(images: readonly ModelImage[], shownSeq: number | null, shownIndex: number): number {
  if (!images.length) return 0;
  const i = shownSeq === null ? -1 : images.findIndex((img) => img.seq === shownSeq);
  return i >= 0 ? i : Math.min(Math.max(shownIndex, 0), images.length - 1);
}

/** The file header as rows for a table: nested values as JSON text. */
export function headerRows(header: Record<string, unknown> | null): [string, string][] {
  if (!header) return [];
  return Object.entries(header).map(([key, value]) => [
    key,
    typeof value === "string" ? value : (JSON.stringify(value) ?? String(value)),
  ]);
}
