/** The "Check a workflow" view's logic: what a dropped file or pasted text is sent as, and the answer in groups. */
import type { ReferenceStatus, WorkflowCheck, WorkflowReference } from "../api/types";

/** The daemon refuses a larger body (413); a file past it is refused here before a byte is sent. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export type CheckBodyType = "application/json" | "image/png" | "image/webp";

export interface CheckRequest {
  body: Blob | string;
  type: CheckBodyType;
  /** What the view says it is checking: the file's name, or null for pasted text. */
  label: string | null;
}

/** Why a file is not sent: the view words each reason. */
export type FileRefusal = { refused: "empty" | "tooBig" | "notWorkflow" };

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, magic: number[], at = 0): boolean {
  return magic.every((b, i) => bytes[at + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/**
 * The type a file is sent with, from its first bytes: a name or a MIME type can lie (a PNG saved as `.json`, a
 * workflow saved without an extension), the bytes cannot. JSON is anything whose first non-blank character opens an
 * object or array (a UTF-8 byte-order mark allowed); the daemon says what is wrong with it.
 */
export function sniffType(head: Uint8Array): CheckBodyType | null {
  if (startsWith(head, PNG_MAGIC)) return "image/png";
  if (startsWith(head, ascii("RIFF")) && startsWith(head, ascii("WEBP"), 8)) return "image/webp";
  let i = startsWith(head, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (i < head.length && [0x20, 0x09, 0x0a, 0x0d].includes(head[i] ?? 0)) i++;
  return head[i] === 0x7b || head[i] === 0x5b ? "application/json" : null;
}

// Enough for the magic numbers and for JSON that opens after a few blank lines.
const HEAD_BYTES = 4096;

/** A dropped or picked file as the check's request, or why it is not one. */
export async function readDroppedFile(file: Blob & { name?: string }): Promise<CheckRequest | FileRefusal> {
  if (file.size === 0) return { refused: "empty" };
  if (file.size > MAX_BODY_BYTES) return { refused: "tooBig" };
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  const type = sniffType(head);
  if (!type) return { refused: "notWorkflow" };
  // The bytes go as they are: an image is never decoded or re-encoded here, so its metadata arrives untouched.
  return { body: file.slice(0, file.size, type), type, label: file.name ?? null };
}

/** Pasted text is sent as JSON as it is; null when there is nothing to send. */
export function pastedRequest(text: string): CheckRequest | null {
  return text.trim() ? { body: text, type: "application/json", label: null } : null;
}

export interface ReferenceGroup {
  status: ReferenceStatus;
  references: WorkflowReference[];
}

/** What needs the user first: missing, then what can be fixed, then what is fine. */
export const GROUP_ORDER: readonly ReferenceStatus[] = ["missing", "elsewhere", "found"];

/** The answer's references by status, in GROUP_ORDER, each group in the daemon's order; empty groups left out. */
export function groupReferences(answer: WorkflowCheck): ReferenceGroup[] {
  return GROUP_ORDER.map((status) => ({
    status,
    references: answer.references.filter((ref) => ref.status === status),
  })).filter((group) => group.references.length > 0);
}

/** Where the reference sits: "#12 · lora_name", "#5:12 · hikaze_payload #2". */
export function referencePlace(ref: WorkflowReference): string {
  return `#${ref.node_id} · ${ref.widget}${ref.entry !== null ? ` #${ref.entry}` : ""}`;
}

/** The other names an `elsewhere` reference could take: its choices, or only `use`. */
export function namesToUse(ref: WorkflowReference): string[] {
  if (ref.choices.length) return ref.choices;
  return ref.use ? [ref.use] : [];
}
