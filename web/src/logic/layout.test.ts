import { describe, expect, it } from "vitest";
import { fittingColumns, MIN_CARD_WIDTH } from "./layout";

describe("card columns", () => {
  it("keeps the user's count when the cards stay wide enough", () => {
    expect(fittingColumns(1440, 5, 10)).toBe(5);
    expect(fittingColumns(2560, 10, 10)).toBe(10);
  });

  it("drops columns rather than squeeze cards below the minimum width", () => {
    for (const width of [360, 390, 768, 1000, 1440]) {
      const n = fittingColumns(width, 10, 10);
      expect((width - 10 * (n + 1)) / n).toBeGreaterThanOrEqual(MIN_CARD_WIDTH);
      expect((width - 10 * (n + 2)) / (n + 1)).toBeLessThan(MIN_CARD_WIDTH);
    }
    expect(fittingColumns(390, 5, 10)).toBe(2);
  });

  it("shows one card however narrow the grid", () => {
    expect(fittingColumns(100, 5, 10)).toBe(1);
    expect(fittingColumns(0, 5, 10)).toBe(1);
  });
});
