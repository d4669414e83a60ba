import { describe, expect, it } from "vitest";
import { pickLanguage } from "./language";

describe("pickLanguage", () => {
  const available = ["en", "zh-CN"];

  it("keeps the user's stored choice", () => {
    expect(pickLanguage(["en-US"], "zh-CN", available)).toBe("zh-CN");
  });

  it("follows the browser: exact code first, then the primary language", () => {
    expect(pickLanguage(["zh-cn", "en"], null, available)).toBe("zh-CN");
    expect(pickLanguage(["zh-TW"], null, available)).toBe("zh-CN");
    expect(pickLanguage(["fr-FR", "en-GB"], null, available)).toBe("en");
  });

  it("falls back to English for a stored or browser language it does not have", () => {
    expect(pickLanguage(["fr"], "de", available)).toBe("en");
    expect(pickLanguage([], null, ["zh-CN"])).toBe("zh-CN");
  });
});
