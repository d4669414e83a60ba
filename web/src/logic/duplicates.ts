// The Duplicates view's rules: which of a model's files may go to the trash, and the pages of the list. The daemon
// checks all of it again (and the file itself) when asked; these only decide what the page offers.
import type { Answer } from "../api/types";

export type DuplicatesPage = Answer<"listDuplicates">;
export type DuplicateModel = DuplicatesPage["models"][number];
export type DuplicateFile = DuplicateModel["files"][number];

/** Models per page: each brings a few files, so a page stays a short list however large the library. */
export const PAGE_SIZE = 50;

export type RefusalReason = "gone" | "changed" | "outside" | "only";

/**
 * What "Move to the trash" would do with `file`: a copy just goes; the main file goes only when another of the
 * model's files can take its place (the first copy that is there, unchanged and inside the model folders, as the
 * daemon picks it); anything else is not offered, with the reason.
 */
export type TrashPlan =
  | { kind: "copy" }
  | { kind: "main"; successor: string }
  | { kind: "refused"; reason: RefusalReason };

function usable(file: DuplicateFile): RefusalReason | null {
  if (file.size_bytes === null) return "gone";
  if (file.changed) return "changed";
  if (file.root === null) return "outside";
  return null;
}

export function trashPlan(model: DuplicateModel, file: DuplicateFile): TrashPlan {
  const refusal = usable(file);
  if (refusal) return { kind: "refused", reason: refusal };
  if (!file.main) return { kind: "copy" };
  const successor = model.files.find((f) => !f.main && usable(f) === null);
  return successor ? { kind: "main", successor: successor.path } : { kind: "refused", reason: "only" };
}

export function pageCount(total: number, size = PAGE_SIZE): number {
  return Math.max(1, Math.ceil(total / size));
}

/** The page number in the URL (1-based); anything else is the first page. */
export function parsePage(raw: string): number {
  return /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : 1;
}

/** Where the file lies, for people: its folder under its models folder, or the whole folder when outside one. */
export function folderLabel(file: DuplicateFile): string {
  if (file.folder === null) return file.path.slice(0, Math.max(1, file.path.lastIndexOf("/")));
  return file.folder === "." ? "/" : file.folder;
}
