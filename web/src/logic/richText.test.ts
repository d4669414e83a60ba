import { describe, expect, it } from "vitest";
import { allowedLink, looksLikeHtml, remoteHost } from "./richText";

describe("looksLikeHtml", () => {
  it("knows Civitai's markup", () => {
    expect(looksLikeHtml("<p>Use at <b>0.6-0.9</b></p>")).toBe(true);
    expect(looksLikeHtml("line<br/>break")).toBe(true);
    expect(looksLikeHtml('<a href="https://x.org">x</a>')).toBe(true);
    expect(looksLikeHtml("fish &amp; chips")).toBe(true);
  });

  it("leaves plain text, prompts with LoRA tags and comparisons as text", () => {
    expect(looksLikeHtml("Two lines.\nSecond one.")).toBe(false);
    expect(looksLikeHtml("add <lora:watercolor:0.8> to the prompt")).toBe(false);
    expect(looksLikeHtml("strength < 1 and > 0.5")).toBe(false);
    expect(looksLikeHtml("AT&T")).toBe(false);
  });
});

describe("allowedLink", () => {
  it("lets http, https and mailto through", () => {
    expect(allowedLink("https://civitai.com/models/1")).toBe("https://civitai.com/models/1");
    expect(allowedLink("http://example.org")).toBe("http://example.org");
    expect(allowedLink("mailto:me@example.org")).toBe("mailto:me@example.org");
  });

  it("drops scripts, data, relative and missing links", () => {
    expect(allowedLink("javascript:alert(1)")).toBeNull();
    expect(allowedLink("data:text/html,<b>x</b>")).toBeNull();
    expect(allowedLink("/api/models")).toBeNull();
    expect(allowedLink(null)).toBeNull();
  });
});

describe("remoteHost", () => {
  it("names the host of an http(s) image", () => {
    expect(remoteHost("https://image.civitai.com/x/1.jpeg")).toBe("image.civitai.com");
    expect(remoteHost("http://127.0.0.1:8080/a.png")).toBe("127.0.0.1:8080");
  });

  it("has no host for other sources", () => {
    expect(remoteHost("data:image/png;base64,AAAA")).toBeNull();
    expect(remoteHost("cover.png")).toBeNull();
    expect(remoteHost("")).toBeNull();
  });
});
