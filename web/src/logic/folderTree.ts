import type { FolderNode } from "../api/types";

/** One visible line of the folder tree: a folder at its depth (1 for a type folder), as a treeitem shows it. */
export interface FolderRow {
  path: string;
  name: string;
  count: number;
  depth: number;
  hasChildren: boolean;
  expanded: boolean;
}

/** The folders a path sits in, outermost first: `loras/styles/anime` -> `loras`, `loras/styles`. */
export function ancestors(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** The rows a tree shows: every folder whose ancestors are all expanded, in the tree's order. */
export function visibleRows(nodes: FolderNode[], expanded: ReadonlySet<string>, depth = 1): FolderRow[] {
  const rows: FolderRow[] = [];
  for (const node of nodes) {
    const open = expanded.has(node.path);
    rows.push({
      path: node.path,
      name: node.name,
      count: node.count,
      depth,
      hasChildren: node.children.length > 0,
      expanded: open,
    });
    if (open) rows.push(...visibleRows(node.children, expanded, depth + 1));
  }
  return rows;
}

/** Where a key moves the focus in a tree's visible rows (WAI-ARIA treeview): the row's index, or what to toggle. */
export type TreeMove = { focus: number } | { toggle: string } | null;

export function treeKey(rows: FolderRow[], index: number, key: string): TreeMove {
  const row = rows[index];
  switch (key) {
    case "ArrowDown":
      return { focus: Math.min(rows.length - 1, index + 1) };
    case "ArrowUp":
      return { focus: Math.max(0, index - 1) };
    case "Home":
      return { focus: 0 };
    case "End":
      return { focus: rows.length - 1 };
    case "ArrowRight":
      if (!row || !row.hasChildren) return null;
      return row.expanded ? { focus: index + 1 } : { toggle: row.path };
    case "ArrowLeft": {
      if (!row) return null;
      if (row.expanded) return { toggle: row.path };
      const parent = ancestors(row.path).pop();
      const at = parent === undefined ? -1 : rows.findIndex((r) => r.path === parent);
      // The "All folders" line above the tree is row -1's place: a type folder's parent.
      return { focus: at };
    }
    default:
      return null;
  }
}
