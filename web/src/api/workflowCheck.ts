// The answer of POST /api/workflows/check (contract 6 of issue 17), written by hand: the route is built on another
// branch and is not in docs/openapi.yaml here yet. Once it is, these names become aliases of the generated schema
// (`Answer<"checkWorkflow">` in ./types.ts) and this file goes; the page and the ComfyUI extension import only these
// names.

export type ReferenceStatus = "found" | "elsewhere" | "missing";

/** How an `elsewhere` reference was matched to a file here. */
export type MatchedBy = "name" | "sha256" | "autov2";

export interface WorkflowReference {
  /** The node's id as a string; inside a subgraph "outer:inner". */
  node_id: string;
  /** class_type (API format) or type (UI format). */
  node_type: string;
  /** The widget (UI) or input (API) holding the reference: "hikaze_payload", "lora_3" (rgthree), "ckpt_name"... */
  widget: string;
  /** For a Hikaze LoRA payload, the 1-based entry; otherwise null. */
  entry: number | null;
  /** The ComfyUI folder name: "loras", "checkpoints", ... */
  kind: string;
  /** What the workflow says. */
  name: string;
  sha256: string | null;
  autov2: string | null;
  status: ReferenceStatus;
  /** found: the same name; elsewhere: the name that resolves here. */
  use: string | null;
  /** found/elsewhere: the file here. */
  path: string | null;
  model: { sha256: string; name: string } | null;
  by: MatchedBy | null;
  /** elsewhere by name with several same-named files: all of them, `use` first in the daemon's order. */
  choices: string[];
}

export interface WorkflowCheck {
  source: "ui" | "api" | "png" | "webp";
  references: WorkflowReference[];
  counts: Record<ReferenceStatus, number>;
}
