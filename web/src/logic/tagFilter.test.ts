import { describe, expect, it } from "vitest";
import { cycleTag, tagOptions, tagState } from "./tagFilter";

describe("cycleTag", () => {
  it("goes off → include → exclude → off", () => {
    let f = { include: [] as string[], exclude: [] as string[] };
    f = cycleTag(f, "anime");
    expect(f).toEqual({ include: ["anime"], exclude: [] });
    f = cycleTag(f, "anime");
    expect(f).toEqual({ include: [], exclude: ["anime"] });
    f = cycleTag(f, "anime");
    expect(f).toEqual({ include: [], exclude: [] });
  });

  it("matches without regard to case and leaves other tags alone", () => {
    const f = cycleTag({ include: ["Anime", "style"], exclude: ["nsfw"] }, "ANIME");
    expect(f).toEqual({ include: ["style"], exclude: ["nsfw", "ANIME"] });
    expect(tagState(f, "anime")).toBe("exclude");
    expect(tagState(f, "NSFW")).toBe("exclude");
    expect(tagState(f, "other")).toBe("off");
  });
});

describe("tagOptions", () => {
  const facets = [
    { name: "style", count: 3 },
    { name: "anime", count: 10 },
    { name: "photo", count: 10 },
    { name: "character", count: 1 },
  ];

  it("lists filter tags first in the order set, then the rest by count and name", () => {
    const options = tagOptions({ include: ["style"], exclude: ["gone"] }, facets);
    expect(options.map((o) => [o.name, o.state, o.count])).toEqual([
      ["style", "include", 3],
      ["gone", "exclude", null],
      ["anime", "off", 10],
      ["photo", "off", 10],
      ["character", "off", 1],
    ]);
  });

  it("narrows by a search text", () => {
    expect(tagOptions({ include: [], exclude: [] }, facets, "AN").map((o) => o.name)).toEqual(["anime"]);
  });
});
