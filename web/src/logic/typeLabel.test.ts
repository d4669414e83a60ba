import { describe, expect, it } from "vitest";
import { readableFolder, typeLabel } from "./typeLabel";

describe("type labels", () => {
  it("makes a folder name readable", () => {
    expect(readableFolder("upscale_models")).toBe("Upscale models");
    expect(readableFolder("my_custom__nodes_")).toBe("My custom nodes");
    expect(readableFolder("ipadapter")).toBe("Ipadapter");
    expect(readableFolder("")).toBe("");
  });

  it("prefers the page's translation", () => {
    const messages: Record<string, string> = { "types.loras": "LoRA 模型" };
    const label = (type: string) => typeLabel(type, (k) => messages[k]!, (k) => k in messages);
    expect(label("loras")).toBe("LoRA 模型");
    expect(label("upscale_models")).toBe("Upscale models");
  });
});
