import { describe, expect, it } from "vitest";
import { nextTick, ref } from "vue";
import type { ConflictEntry, Strategy } from "../api/types";
import { useConflictChoices } from "./useConflictChoices";

function conflict(id: number): ConflictEntry {
  const side = { name: `m${id}`, path: `/models/loras/${id}.safetensors`, size_bytes: 1, type: "loras" };
  return { id, pending: side, existing: { ...side, sha256: `sha${id}`, base_model: "" } } as unknown as ConflictEntry;
}

describe("the conflict choices with suggestions", () => {
  it("follow a suggestion as it arrives, but never overturn what the user chose", async () => {
    const entries = ref([conflict(1), conflict(2)]);
    const suggestions = ref(new Map<number, Strategy>());
    const c = useConflictChoices(entries, (e) => suggestions.value.get(e.id) ?? null);
    c.reset();
    expect(c.choices.get(1)).toBe("merge");
    c.choose(2, "ignore");
    suggestions.value = new Map([[1, "override"], [2, "override"]]);
    await nextTick();
    expect(c.choices.get(1)).toBe("override");
    expect(c.choices.get(2)).toBe("ignore");
  });

  it("name the files that go to the trash, only once the trash is asked for", () => {
    const entries = ref([conflict(1), conflict(2)]);
    const c = useConflictChoices(entries, () => null);
    c.reset();
    c.choose(2, "delete");
    expect(c.trashed.value).toEqual([]);
    c.trash.value = true;
    expect(c.trashed.value).toEqual(["/models/loras/2.safetensors"]);
  });
});
