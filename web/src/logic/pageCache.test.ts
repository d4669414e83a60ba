import { describe, expect, it } from "vitest";
import { PageCache } from "./pageCache";

describe("PageCache", () => {
  it("asks for each missing page once and serves items by index", () => {
    const cache = new PageCache<number>(10);
    expect(cache.wanted(5, 25)).toEqual([0, 1, 2]);
    const g = cache.begin(1);
    expect(cache.wanted(5, 25)).toEqual([0, 2]);
    expect(cache.finish(1, g, Array.from({ length: 10 }, (_, i) => 10 + i))).toBe(true);
    expect(cache.get(13)).toBe(13);
    expect(cache.get(3)).toBeUndefined();
    expect(cache.wanted(10, 19)).toEqual([]);
  });

  it("drops answers to an older query", () => {
    const cache = new PageCache<number>(10);
    const g = cache.begin(0);
    cache.reset();
    expect(cache.finish(0, g, [1, 2, 3])).toBe(false);
    expect(cache.get(0)).toBeUndefined();
    expect(cache.wanted(0, 0)).toEqual([0]);
  });

  it("keeps stale pages visible until they are reloaded", () => {
    const cache = new PageCache<string>(2);
    cache.finish(0, cache.begin(0), ["a", "b"]);
    cache.markStale();
    expect(cache.get(1)).toBe("b");
    expect(cache.wanted(0, 1)).toEqual([0]);
    cache.finish(0, cache.begin(0), ["a", "c"]);
    expect(cache.get(1)).toBe("c");
    expect(cache.wanted(0, 1)).toEqual([]);
  });

  it("a failed load can be tried again", () => {
    const cache = new PageCache<string>(2);
    expect(cache.finish(0, cache.begin(0), null)).toBe(false);
    expect(cache.wanted(0, 1)).toEqual([0]);
  });

  it("hands on the token of a fresh page before, and none after a jump or while that page is stale", () => {
    const cache = new PageCache<string>(2);
    expect(cache.after(0)).toBeUndefined();
    cache.finish(0, cache.begin(0), ["a", "b"], "after-b");
    expect(cache.after(1)).toBe("after-b");
    expect(cache.after(2)).toBeUndefined();
    cache.finish(1, cache.begin(1), ["c"], null);
    expect(cache.after(2)).toBeUndefined();
    cache.markStale();
    expect(cache.after(1)).toBeUndefined();
    cache.finish(0, cache.begin(0), ["a", "x"], "after-x");
    expect(cache.after(1)).toBe("after-x");
    cache.trim(0);
    expect(cache.after(1)).toBeUndefined();
    cache.reset();
    expect(cache.after(1)).toBeUndefined();
  });
});
