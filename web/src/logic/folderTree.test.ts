import { describe, expect, it } from "vitest";
import type { FolderNode } from "../api/types";
import { ancestors, treeKey, visibleRows } from "./folderTree";

const node = (path: string, count: number, children: FolderNode[] = []): FolderNode => ({
  path,
  name: path.split("/").pop() ?? path,
  count,
  children,
});

const TREE = [
  node("checkpoints", 2),
  node("loras", 9, [node("loras/styles", 5, [node("loras/styles/anime", 3), node("loras/styles/写真 集", 2)])]),
];

describe("folder tree", () => {
  it("names a folder's ancestors outermost first", () => {
    expect(ancestors("loras/styles/anime")).toEqual(["loras", "loras/styles"]);
    expect(ancestors("loras")).toEqual([]);
  });

  it("shows only the folders whose ancestors are all open", () => {
    expect(visibleRows(TREE, new Set()).map((r) => r.path)).toEqual(["checkpoints", "loras"]);
    const rows = visibleRows(TREE, new Set(["loras", "loras/styles"]));
    expect(rows.map((r) => [r.path, r.depth])).toEqual([
      ["checkpoints", 1],
      ["loras", 1],
      ["loras/styles", 2],
      ["loras/styles/anime", 3],
      ["loras/styles/写真 集", 3],
    ]);
    // A closed folder hides its sub-folders even when they were open.
    expect(visibleRows(TREE, new Set(["loras/styles"])).map((r) => r.path)).toEqual(["checkpoints", "loras"]);
  });

  it("moves through the rows with the keys of a treeview", () => {
    const rows = visibleRows(TREE, new Set(["loras"]));
    expect(treeKey(rows, 0, "ArrowDown")).toEqual({ focus: 1 });
    expect(treeKey(rows, 2, "ArrowDown")).toEqual({ focus: 2 });
    expect(treeKey(rows, 0, "ArrowUp")).toEqual({ focus: 0 });
    expect(treeKey(rows, 2, "ArrowRight")).toEqual({ toggle: "loras/styles" });
    expect(treeKey(rows, 1, "ArrowRight")).toEqual({ focus: 2 });
    expect(treeKey(rows, 0, "ArrowRight")).toBeNull();
    expect(treeKey(rows, 1, "ArrowLeft")).toEqual({ toggle: "loras" });
    expect(treeKey(rows, 2, "ArrowLeft")).toEqual({ focus: 1 });
    expect(treeKey(rows, 0, "ArrowLeft")).toEqual({ focus: -1 });
    expect(treeKey(rows, 1, "End")).toEqual({ focus: 2 });
  });
});
