import { computed, reactive, ref, watch, type Ref } from "vue";
import type { ConflictEntry, Strategy } from "../api/types";

export interface ConflictChoice {
  choices: Map<number, Strategy>;
  deleteFiles: boolean;
}

/**
 * The strategy chosen for each conflict, "for all" over them, and whether deleted copies go to the trash. A row
 * the user has not chosen for follows `suggested` (merge until there is a suggestion).
 */
export function useConflictChoices(
  entries: Readonly<Ref<readonly ConflictEntry[]>>,
  suggested: (c: ConflictEntry) => Strategy | null,
) {
  const choices = reactive(new Map<number, Strategy>());
  const chosen = reactive(new Set<number>());
  const trash = ref(false);

  function choose(id: number, strategy: Strategy): void {
    chosen.add(id);
    choices.set(id, strategy);
  }

  // Suggestions arrive as each conflict's sides are read; a choice the user made is never overturned by one.
  watch(
    () => entries.value.map((c) => [c.id, suggested(c)] as const),
    (now) => {
      for (const [id, strategy] of now) if (!chosen.has(id)) choices.set(id, strategy ?? "merge");
    },
  );

  /** "For all": the strategy every row has, else empty; choosing one sets every row. */
  const forAll = computed<"" | Strategy>({
    get() {
      const values = new Set(entries.value.map((c) => choices.get(c.id)));
      const [only] = values;
      return values.size === 1 && only ? only : "";
    },
    set(value) {
      if (!value) return;
      for (const c of entries.value) choose(c.id, value);
    },
  });
  const anyDelete = computed(() => entries.value.some((c) => choices.get(c.id) === "delete"));
  /** The files applying would send to the trash, named before the user confirms. */
  const trashed = computed(() =>
    trash.value ? entries.value.filter((c) => choices.get(c.id) === "delete").map((c) => c.pending.path) : [],
  );

  /** Starts over for the current entries; merge until suggested otherwise: it changes nothing and loses no file. */
  function reset(): void {
    choices.clear();
    chosen.clear();
    for (const c of entries.value) choices.set(c.id, suggested(c) ?? "merge");
    trash.value = false;
  }

  function answer(): ConflictChoice {
    const picked = new Map(entries.value.map((c) => [c.id, choices.get(c.id) ?? "merge"] as const));
    return { choices: picked, deleteFiles: anyDelete.value && trash.value };
  }

  return { choices, choose, trash, trashed, forAll, anyDelete, reset, answer };
}
