/** The library's tag filter: a click cycles a tag include (must have) → exclude (must not have) → off. */

export type TagState = "include" | "exclude" | "off";

export interface TagFilter {
  include: string[];
  exclude: string[];
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function tagState(filter: TagFilter, tag: string): TagState {
  if (filter.include.some((t) => same(t, tag))) return "include";
  if (filter.exclude.some((t) => same(t, tag))) return "exclude";
  return "off";
}

export function cycleTag(filter: TagFilter, tag: string): TagFilter {
  const include = filter.include.filter((t) => !same(t, tag));
  const exclude = filter.exclude.filter((t) => !same(t, tag));
  switch (tagState(filter, tag)) {
    case "off":
      return { include: [...include, tag], exclude };
    case "include":
      return { include, exclude: [...exclude, tag] };
    case "exclude":
      return { include, exclude };
  }
}

export interface TagOption {
  name: string;
  count: number | null;
  state: TagState;
}

/**
 * The list the dropdown shows: tags already in the filter first (in the order they were set, so they never jump
 * away from the pointer), then the tags of the current results by how many models carry them.
 */
export function tagOptions(filter: TagFilter, facets: { name: string; count: number }[], search = ""): TagOption[] {
  const needle = search.trim().toLowerCase();
  const counts = new Map(facets.map((f) => [f.name.toLowerCase(), f.count]));
  const active: TagOption[] = [...filter.include, ...filter.exclude].map((name) => ({
    name,
    count: counts.get(name.toLowerCase()) ?? null,
    state: tagState(filter, name),
  }));
  const rest = facets
    .filter((f) => tagState(filter, f.name) === "off")
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name))
    .map((f): TagOption => ({ name: f.name, count: f.count, state: "off" }));
  return [...active, ...rest].filter((o) => !needle || o.name.toLowerCase().includes(needle));
}
