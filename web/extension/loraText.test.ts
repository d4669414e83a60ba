import { describe, expect, it } from "vitest";
import { fitsEntry, readLoraText } from "./loraText";

const names = (text: string) => {
  const read = readLoraText(text);
  return "entries" in read ? read.entries.map((e) => e.name) : read;
};

describe("readLoraText", () => {
  it("reads the entries nodes/lora_text.py reads, with where each name sits", () => {
    const text = "a cat, <LoRA: a b :.5:-1e-2> and <lora:c>, <lora:d:0.8>";
    expect(names(text)).toEqual(["a b", "c", "d"]);
    const read = readLoraText(text);
    const first = "entries" in read ? read.entries[0] : undefined;
    expect(first?.written).toBe("<LoRA: a b :.5:-1e-2>");
    expect(text.slice(first?.nameStart, first?.nameEnd)).toBe("a b");
    expect(names("no entries at all")).toEqual([]);
  });

  it("calls unreadable what the node refuses: no closing >, an empty name, too many fields, a bad strength", () => {
    expect(names("<lora:x <lora:y:1>")).toEqual({ unreadable: "<lora:x" });
    expect(names("ok <lora:y:1> <lora:z")).toEqual({ unreadable: "<lora:z" });
    for (const bad of ["<lora::1>", "<lora:a:1:2:3>", "<lora:x:>", "<lora:x:0x1>", "<lora:x:0,5>", "<lora:x:1e999>"]) {
      expect(names(`p ${bad} q`)).toEqual({ unreadable: bad });
    }
  });
});

describe("fitsEntry", () => {
  it("takes a name that reads back as itself inside <lora:...>", () => {
    expect(fitsEntry("style/ink wash.safetensors")).toBe(true);
    expect(fitsEntry("墨/风格")).toBe(true);
    for (const bad of ["", " a", "a ", "a:b", "a>b", "a<b"]) expect(fitsEntry(bad)).toBe(false);
  });
});
