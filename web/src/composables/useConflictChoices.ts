import { computed, reactive, ref, type Ref } from "vue";
import type { ConflictEntry, Strategy } from "../api/types";

export interface ConflictChoice {
  choices: Map<number, Strategy>;
  deleteFiles: boolean;
}

/** The strategy chosen for each conflict, "for all" over them, and whether deleted copies go to the trash. */
export function useConflictChoices(entries: Readonly<Ref<readonly ConflictEntry[]>>) {
  const choices = reactive(new Map<number, Strategy>());
  const trash = ref(false);

  /** "For all": the strategy every row has, else empty; choosing one sets every row. */
  const forAll = computed<"" | Strategy>({
    get() {
      const values = new Set(entries.value.map((c) => choices.get(c.id)));
      const [only] = values;
      return values.size === 1 && only ? only : "";
    },
    set(value) {
      if (!value) return;
      for (const c of entries.value) choices.set(c.id, value);
    },
  });
  const anyDelete = computed(() => entries.value.some((c) => choices.get(c.id) === "delete"));

  /** Starts over for the current entries; merge is the default: it changes nothing the user made and loses no file. */
  function reset(): void {
    choices.clear();
    for (const c of entries.value) choices.set(c.id, "merge");
    trash.value = false;
  }

  function answer(): ConflictChoice {
    const picked = new Map(entries.value.map((c) => [c.id, choices.get(c.id) ?? "merge"] as const));
    return { choices: picked, deleteFiles: anyDelete.value && trash.value };
  }

  return { choices, trash, forAll, anyDelete, reset, answer };
}
