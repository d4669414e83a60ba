// Wire shapes of the daemon's API (docs/openapi.yaml).

export type PendingStatus = "settling" | "hashing" | "ready" | "conflict" | "error" | "ignored";
export type ModelStatus = "ok" | "missing";
export type SortKey = "name" | "created" | "updated" | "size";
export type Strategy = "override" | "merge" | "ignore" | "delete";

export interface ImageUrls {
  high: string;
  medium: string;
  low: string;
}

export interface ModelImage {
  seq: number;
  width: number;
  height: number;
  created_at?: number;
  urls: ImageUrls;
}

export interface ModelListItem {
  sha256: string;
  name: string;
  file_name: string;
  type: string;
  base_model: string;
  size_bytes: number;
  status: ModelStatus;
  tags: string[];
  image_count: number;
  image_seqs: number[];
  nsfw: boolean;
  cover: ImageUrls | null;
}

export interface ModelList {
  models: ModelListItem[];
  total: number;
}

export interface Prompts {
  positive?: string;
  negative?: string;
}

export interface Meta {
  description?: string;
  notes?: string;
  community_links?: string[];
  prompts?: Prompts;
  trigger_words?: string[];
  nsfw?: boolean;
  [key: string]: unknown;
}

export interface ModelDetail {
  sha256: string;
  blake3: string | null;
  path: string;
  name: string;
  file_name: string;
  type: string;
  base_model: string;
  size_bytes: number;
  status: ModelStatus;
  created_at: number;
  updated_at: number;
  missing_since: number | null;
  header: Record<string, unknown> | null;
  meta_json: Meta;
  tags: string[];
  images: ModelImage[];
  cover: ImageUrls | null;
  copies: string[];
}

export interface ModelSummary {
  sha256: string;
  name: string;
  path: string;
  type: string;
  base_model: string;
  size_bytes: number;
  status: ModelStatus;
}

export interface MetaPatch {
  description?: string;
  notes?: string;
  community_links?: string[];
  prompts?: Prompts;
  trigger_words?: string[];
  nsfw?: boolean;
}

/** Items put into or taken out of the list-valued metadata, as the stored lists stand when the edit is written. */
export interface MetaListEdit {
  trigger_words?: string[];
  community_links?: string[];
}

/** Single-valued fields by their place in a model: in a PATCH the values started from, in a 409 the stored ones. */
export interface GuardedFields {
  name?: string;
  meta_json?: { description?: string; notes?: string; nsfw?: boolean; prompts?: Prompts };
}

export interface ModelPatch {
  name?: string;
  tags?: string[];
  tags_add?: string[];
  tags_remove?: string[];
  meta_json?: MetaPatch;
  meta_add?: MetaListEdit;
  meta_remove?: MetaListEdit;
  if_unchanged?: GuardedFields;
}

export interface PendingItem {
  id: number;
  path: string;
  name: string;
  type: string;
  size_bytes: number;
  status: PendingStatus;
  sha256: string | null;
  blake3: string | null;
  conflict_sha256: string | null;
  error: string | null;
  discovered_at: number;
  hashed_at: number | null;
}

export interface PendingDetail extends PendingItem {
  meta_json: Record<string, unknown>;
  tags: { id: number; name: string }[];
  images: ModelImage[];
}

export interface PendingList {
  pending: PendingItem[];
  total: number;
}

export interface IdError {
  id: number;
  error: string;
}

export interface ConflictEntry {
  id: number;
  pending: PendingItem;
  existing: ModelSummary;
}

export interface ImportReport {
  imported: { id: number; sha256: string }[];
  conflicts: ConflictEntry[];
  ignored: number[];
  deleted: number[];
  failed: IdError[];
}

export interface TypeCounts {
  type: string;
  models: number;
  missing: number;
  pending: number;
}

export interface TagCounts {
  id: number;
  name: string;
  models: number;
  pending: number;
}

export interface Facet {
  name: string;
  count: number;
}

export interface Facets {
  tags: Facet[];
  base_models: Facet[];
  total: number;
}

export interface ScanProgress {
  phase: "walking" | "comparing" | "done" | "failed";
  started_at: number;
  dirs: number;
  files: number;
  new_or_changed: number;
  gone: number;
  unreadable: number;
  skipped: number;
  finished_at: number | null;
  error: string | null;
}

/** A ComfyUI whose node pack announced itself: its folders, and those the daemon does not watch as that type. */
export interface ComfyPeer {
  origin: string;
  folders: Record<string, string[]>;
  missing: Record<string, string[]>;
  seen_at: number;
}

export interface Status {
  version: string;
  queues: { settling: number; hashing: number; queued: number };
  hashing: { path: string; bytes_done: number; bytes_total: number }[];
  counts: Record<string, unknown>;
  scan: ScanProgress | null;
  comfyui?: ComfyPeer[];
  [key: string]: unknown;
}

/** The filters shared by GET /api/models and GET /api/facets. */
export interface ModelFilter {
  q: string;
  type: string;
  base_model: string;
  tags: string[];
  exclude_tags: string[];
  status: "ok" | "missing" | "all";
  hide_nsfw: boolean;
}

/** What `GET /api/events` sends: the event type and its data, flattened. */
export interface DaemonEvent {
  type: string;
  id?: number;
  path?: string;
  status?: string;
  sha256?: string;
  bytes_done?: number;
  bytes_total?: number;
  [key: string]: unknown;
}
