import { describe, expect, it } from "vitest";
import { folderLabel, pageCount, parsePage, trashPlan, type DuplicateFile, type DuplicateModel } from "./duplicates";

function file(path: string, over: Partial<DuplicateFile> = {}): DuplicateFile {
  return { path, root: "/m", folder: "loras", main: false, size_bytes: 10, changed: false, ...over };
}

function model(...files: DuplicateFile[]): DuplicateModel {
  return { sha256: "a".repeat(64), name: "x", type: "loras", status: "ok", size_bytes: 10, cover: null, files };
}

describe("trashPlan", () => {
  const main = file("/m/loras/a.safetensors", { main: true });

  it("offers a copy that is as it was hashed", () => {
    const copy = file("/m/loras/b.safetensors");
    expect(trashPlan(model(main, copy), copy)).toEqual({ kind: "copy" });
  });

  it("offers the main file only with a copy to take its place, the first usable one", () => {
    const gone = file("/m/loras/gone.safetensors", { size_bytes: null });
    const changed = file("/m/loras/changed.safetensors", { changed: true });
    const outside = file("/far/c.safetensors", { root: null, folder: null });
    const good = file("/m/vae/d.safetensors");
    expect(trashPlan(model(main, gone, changed, outside, good), main)).toEqual({
      kind: "main",
      successor: "/m/vae/d.safetensors",
    });
    expect(trashPlan(model(main, gone, changed, outside), main)).toEqual({ kind: "refused", reason: "only" });
  });

  it("never offers a file that is gone, changed or outside the model folders", () => {
    const m = model(main, file("/m/loras/b.safetensors"));
    expect(trashPlan(m, file("/m/x", { size_bytes: null }))).toEqual({ kind: "refused", reason: "gone" });
    expect(trashPlan(m, file("/m/x", { changed: true }))).toEqual({ kind: "refused", reason: "changed" });
    expect(trashPlan(m, file("/far/x", { root: null, folder: null }))).toEqual({ kind: "refused", reason: "outside" });
  });
});

describe("paging", () => {
  it("counts at least one page and reads only plain page numbers", () => {
    expect([pageCount(0), pageCount(50), pageCount(51), pageCount(3, 2)]).toEqual([1, 1, 2, 2]);
    expect(["", "0", "-1", "2", "1e3", "07", "abc"].map(parsePage)).toEqual([1, 1, 1, 2, 1, 1, 1]);
  });
});

describe("folderLabel", () => {
  it("names the folder under the models folder, or the whole folder outside one", () => {
    expect(folderLabel(file("/m/loras/old/a", { folder: "loras/old" }))).toBe("loras/old");
    expect(folderLabel(file("/m/a", { folder: "." }))).toBe("/");
    expect(folderLabel(file("/far/away/a", { root: null, folder: null }))).toBe("/far/away");
  });
});
