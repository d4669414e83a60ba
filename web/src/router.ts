import { computed } from "vue";
import { createRouter, createWebHistory, type LocationQuery, type LocationQueryRaw } from "vue-router";

/**
 * Everything a reload or the back button must bring back lives in the query string:
 *   mode (inbox, duplicates, check), type, q, tags (include), not (exclude), base, sort, missing=1, model (sha256),
 *   pending (id), show (inbox filter), pick + payload (picker mode for ComfyUI).
 */
export const router = createRouter({
  history: createWebHistory(),
  routes: [{ path: "/:rest(.*)*", component: { render: () => null } }],
});

export function one(query: LocationQuery, key: string): string {
  const value = query[key];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : "";
}

export function list(query: LocationQuery, key: string): string[] {
  return one(query, key)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export type QueryChange = Record<string, string | string[] | number | boolean | null | undefined>;

/** Merges `changes` into the query (empty values drop the key). `push` adds a history entry. */
export function updateQuery(changes: QueryChange, push = true): Promise<unknown> {
  const next: LocationQueryRaw = { ...router.currentRoute.value.query };
  for (const [key, value] of Object.entries(changes)) {
    const text = Array.isArray(value) ? value.join(",") : value === true ? "1" : value ? String(value) : "";
    if (text) next[key] = text;
    else delete next[key];
  }
  return push ? router.push({ query: next }) : router.replace({ query: next });
}

export const query = computed(() => router.currentRoute.value.query);
