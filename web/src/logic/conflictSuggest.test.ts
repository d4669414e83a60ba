import { describe, expect, it } from "vitest";
import { suggest, type Richness } from "./conflictSuggest";

const bare: Richness = { preview: false, description: false, triggerWords: 0, tags: 0, links: 0 };

describe("suggest", () => {
  it("picks the new file when it brings a preview and a description the model lacks", () => {
    const s = suggest({ ...bare, preview: true, description: true, triggerWords: 2 }, { ...bare, triggerWords: 5 });
    expect(s.side).toBe("pending");
    expect(s.strategy).toBe("override");
    expect(s.reasons.map((r) => r.facet)).toEqual(["preview", "description"]);
  });

  it("picks the library's model when it is the richer side", () => {
    const s = suggest({ ...bare, tags: 1 }, { ...bare, preview: true, tags: 1, links: 2 });
    expect(s).toEqual({
      side: "existing",
      strategy: "merge",
      reasons: [
        { facet: "preview", mine: 1, theirs: 0 },
        { facet: "links", mine: 2, theirs: 0 },
      ],
    });
  });

  it("breaks a tie in kinds by the number of items", () => {
    const s = suggest({ ...bare, triggerWords: 4 }, { ...bare, triggerWords: 1 });
    expect(s.side).toBe("pending");
    expect(s.reasons).toEqual([{ facet: "triggerWords", mine: 4, theirs: 1 }]);
  });

  it("keeps the model, with no reason to name, when both sides carry as much", () => {
    const same = { ...bare, preview: true, tags: 2 };
    expect(suggest(same, same)).toEqual({ side: "existing", strategy: "merge", reasons: [] });
  });
});
