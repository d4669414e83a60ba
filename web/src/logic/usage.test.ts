import { describe, expect, it } from "vitest";
import { isReadyChoice, newerUsage, timeAgo, unusedDays } from "./usage";

describe("the unused filter", () => {
  it("takes whole days from 1 to 36,500 and nothing else", () => {
    expect(unusedDays("30")).toBe(30);
    expect(unusedDays("1")).toBe(1);
    expect(unusedDays("36500")).toBe(36500);
    for (const raw of ["", "0", "36501", "-5", "1.5", "30d", " 30", "1e3", "999999"]) expect(unusedDays(raw)).toBe(0);
  });

  it("tells the ready choices from a custom number of days", () => {
    expect(isReadyChoice(90)).toBe(true);
    expect(isReadyChoice(45)).toBe(false);
  });
});

describe("how long ago", () => {
  const now = 1_700_000_000;
  it("says the largest whole unit in the page's language", () => {
    expect(timeAgo(now - 3 * 86400 - 5, now, "en")).toBe("3 days ago");
    expect(timeAgo(now - 86400, now, "en")).toBe("yesterday");
    expect(timeAgo(now - 2 * 3600, now, "en")).toBe("2 hours ago");
    expect(timeAgo(now - 400 * 86400, now, "en")).toBe("last year");
    expect(timeAgo(now - 3 * 86400, now, "zh-CN")).toBe("3天前");
  });

  it("counts a time under a minute ago, or ahead of the page's clock, as now", () => {
    expect(timeAgo(now - 20, now, "en")).toBe("now");
    expect(timeAgo(now + 600, now, "en")).toBe("now");
  });
});

describe("the newer report of a model's use", () => {
  it("is the higher count: counts only grow", () => {
    const read = { use_count: 3, last_used_at: 100 };
    expect(newerUsage(read, undefined)).toBe(read);
    expect(newerUsage(read, { use_count: 2, last_used_at: 90 })).toBe(read);
    expect(newerUsage(read, { use_count: 4, last_used_at: 200 })).toEqual({ use_count: 4, last_used_at: 200 });
  });
});
