import { describe, expect, it } from "vitest";
import { formatBytes, formatDate, formatDay, formatNumber } from "./format";

describe("formatting", () => {
  it("writes sizes in binary units with at most three significant digits", () => {
    expect(formatBytes(0, "en")).toBe("0 B");
    expect(formatBytes(512, "en")).toBe("512 B");
    expect(formatBytes(1536, "en")).toBe("1.50 KiB");
    expect(formatBytes(14.25 * 1024 ** 2, "en")).toBe("14.3 MiB");
    expect(formatBytes(144 * 1024 ** 2, "en")).toBe("144 MiB");
    expect(formatBytes(6.5 * 1024 ** 3, "en")).toBe("6.50 GiB");
    expect(formatBytes(-1, "en")).toBe("");
    expect(formatBytes(Number.NaN, "en")).toBe("");
  });

  it("writes numbers in the page's language, not the browser's", () => {
    expect(formatBytes(1536, "de")).toBe("1,50 KiB");
    expect(formatNumber(1234567, "en")).toBe("1,234,567");
    expect(formatNumber(1234567, "de")).toBe("1.234.567");
  });

  it("writes daemon times as date and time in the page's language, nothing for none", () => {
    const seconds = Date.UTC(2024, 2, 5, 12, 0) / 1000;
    expect(formatDate(seconds, "en")).toContain("2024");
    expect(formatDate(seconds, "en")).toContain("Mar");
    expect(formatDate(seconds, "zh-CN")).toContain("2024年3月");
    expect(formatDate(null, "en")).toBe("");
    expect(formatDate(0, "en")).toBe("");
  });

  it("writes a day without its time", () => {
    const seconds = Date.UTC(2024, 2, 5, 12, 0) / 1000;
    expect(formatDay(seconds, "en")).toBe("Mar 5, 2024");
    expect(formatDay(seconds, "zh-CN")).toBe("2024年3月5日");
    expect(formatDay(null, "en")).toBe("");
  });
});
