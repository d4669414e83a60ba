import type { Strategy } from "../api/types";

/** What one side of a conflict carries that a user would not want to lose. */
export interface Richness {
  preview: boolean;
  description: boolean;
  triggerWords: number;
  tags: number;
  links: number;
}

export type Facet = keyof Richness;
export type Side = "pending" | "existing";

/** One thing the suggested side has more of: how much on each side (1 or 0 for a preview or a description). */
export interface Reason {
  facet: Facet;
  mine: number;
  theirs: number;
}

export interface Suggestion {
  side: Side;
  /** `override` lets the new file's metadata win, `merge` the library's; both lose nothing of the other side's. */
  strategy: Strategy;
  /** Empty when both sides carry as much: then the library's model is kept and filled. */
  reasons: Reason[];
}

const FACETS: readonly Facet[] = ["preview", "description", "triggerWords", "tags", "links"];

function amount(r: Richness, facet: Facet): number {
  const v = r[facet];
  return typeof v === "boolean" ? Number(v) : v;
}

/** How many kinds of metadata a side has, then how many items in all: the first decides, the second breaks ties. */
function score(r: Richness): [number, number] {
  const amounts = FACETS.map((f) => amount(r, f));
  return [amounts.filter((n) => n > 0).length, amounts.reduce((a, b) => a + b, 0)];
}

/**
 * The side whose metadata should win: the one with more kinds of it (a preview, a description, trigger words, tags,
 * links), then more items. On a tie the library's model stays as it is, filled where it is empty (`merge`).
 */
export function suggest(pending: Richness, existing: Richness): Suggestion {
  const [pk, pn] = score(pending);
  const [ek, en] = score(existing);
  const side: Side = pk > ek || (pk === ek && pn > en) ? "pending" : "existing";
  const [mine, theirs] = side === "pending" ? [pending, existing] : [existing, pending];
  const reasons = FACETS.map((facet) => ({ facet, mine: amount(mine, facet), theirs: amount(theirs, facet) })).filter(
    (r) => r.mine > r.theirs,
  );
  return { side, strategy: side === "pending" ? "override" : "merge", reasons };
}
