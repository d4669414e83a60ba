import { describe, expect, it } from "vitest";
import { isLora, isNsfw, loraTag, naturalDir, sortClick, sortDir, triggerText } from "./cards";

describe("sorting", () => {
  it("runs names A to Z and the rest newest or largest first unless told", () => {
    expect(naturalDir("name")).toBe("asc");
    expect(naturalDir("size")).toBe("desc");
    expect(sortDir("created", "")).toBe("desc");
    expect(sortDir("created", "asc")).toBe("asc");
    expect(sortDir("name", "sideways")).toBe("asc");
  });

  it("flips the direction on the same column and starts another at its own", () => {
    expect(sortClick("name", "asc", "name")).toEqual({ sort: "", dir: "desc" });
    expect(sortClick("name", "desc", "name")).toEqual({ sort: "", dir: "" });
    expect(sortClick("name", "desc", "size")).toEqual({ sort: "size", dir: "" });
    expect(sortClick("size", "desc", "size")).toEqual({ sort: "size", dir: "asc" });
  });
});

describe("card actions", () => {
  it("writes the LoRA tag with the file's stem, dots inside the name kept", () => {
    expect(loraTag({ file_name: "detail_tweaker.v1.5.safetensors" })).toBe("<lora:detail_tweaker.v1.5:1.0>");
    expect(loraTag({ file_name: "少女风格.safetensors" }, 0.8)).toBe("<lora:少女风格:0.8>");
  });

  it("knows a LoRA and an NSFW model", () => {
    expect(isLora({ type: "loras" })).toBe(true);
    expect(isLora({ type: "checkpoints" })).toBe(false);
    expect(isNsfw({ nsfw: false, tags: ["NSFW"] })).toBe(true);
    expect(isNsfw({ nsfw: false, tags: ["style"] })).toBe(false);
  });

  it("joins trigger words as a prompt takes them", () => {
    expect(triggerText(["red hair", "kimono"])).toBe("red hair, kimono");
  });
});
