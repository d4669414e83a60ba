// The daemon's wire shapes under the names the page uses. They are generated from docs/openapi.yaml into
// ./schema.ts (`npm run api-types`; check-bundle fails when it is stale), so a change to the API is a change to the
// spec first. Only ModelFilter is the page's own.
import type { components, operations } from "./schema";

type Schemas = components["schemas"];
type JsonOf<T> = T extends { content: { "application/json": infer Body } } ? Body : never;
type Responses<Op extends keyof operations> = operations[Op]["responses"];
/** The JSON a route answers with: on 200 unless another status is named. */
export type Answer<Op extends keyof operations, Code extends keyof Responses<Op> = 200 & keyof Responses<Op>> =
  JsonOf<Responses<Op>[Code]>;
type RequestOf<Op extends keyof operations> = JsonOf<NonNullable<operations[Op]["requestBody"]>>;

export type PendingStatus = Schemas["PendingStatus"];
export type ModelStatus = Schemas["ModelStatus"];
export type SortKey = NonNullable<NonNullable<operations["listModels"]["parameters"]["query"]>["sort"]>;
export type Strategy = NonNullable<RequestOf<"importPending">["conflict_strategy"]>;
export type ImageTier = components["parameters"]["tier"];

export type ImageUrls = Schemas["ImageUrls"];
export type ModelImage = Schemas["Image"];
export type PendingImage = Schemas["ImageInfo"];
export type ModelListItem = Schemas["ModelListItem"];
export type ModelList = Answer<"listModels">;
export type ModelDetail = Schemas["ModelDetail"];
export type ModelSummary = Schemas["ModelSummary"];
export type MetaPatch = Schemas["MetaPatch"];
/** Items put into or taken out of the list-valued metadata, as the stored lists stand when the edit is written. */
export type MetaListEdit = Schemas["MetaListEdit"];
/** Single-valued fields by their place in a model: in a PATCH the values started from, in a 409 the stored ones. */
export type GuardedFields = Schemas["GuardedFields"];
export type ModelPatch = RequestOf<"patchModel">;

export type PendingItem = Schemas["PendingItem"];
export type PendingDetail = Schemas["PendingDetail"];
export type PendingList = Answer<"listPending">;
export type ImportReport = Schemas["ImportReport"];
export type ConflictEntry = ImportReport["conflicts"][number];
export type IdError = Schemas["IdError"];

export type TypeCounts = Schemas["TypeCounts"];
export type TagCounts = Schemas["TagCounts"];
export type Facets = Answer<"facets">;
export type Facet = Schemas["FacetCount"];
export type FolderTree = Answer<"folderTree">;
export type FolderNode = Schemas["FolderNode"];
export type ScanProgress = Schemas["ScanProgress"];
/** A ComfyUI whose node pack announced itself: its folders, and those the daemon does not watch as that type. */
export type ComfyPeer = Schemas["ComfyPeer"];
export type Status = Schemas["Status"];
/** The model's metadata: the user fields, and what the daemon keeps beside them (`fetched`, `web`, `never_fetch`). */
export type Meta = Schemas["Meta"];
/** The background lookups of metadata on the web (`lookups` of the status, and `lookup.progress` events). */
export type LookupProgress = Schemas["LookupProgress"];
/** What POST /api/models/{sha256}/metadata/fetch answers: what the sources said, and what changed. */
export type LookupAnswer = Schemas["LookupAnswer"];
/** The body of POST /api/metadata/fetch: the models as sha256s or as a filter, or neither (every model not
 *  looked up yet). */
export type FetchMetadataBody = RequestOf<"fetchMetadata">;

/** What `GET /api/events` sends: the event's type and its data, flattened. */
export type DaemonEvent = Schemas["DaemonEvent"];
export type DaemonEventType = DaemonEvent["type"];

/** The filters shared by GET /api/models and GET /api/facets. */
export interface ModelFilter {
  q: string;
  type: string;
  base_model: string;
  tags: string[];
  exclude_tags: string[];
  status: NonNullable<NonNullable<operations["listModels"]["parameters"]["query"]>["status"]>;
  hide_nsfw: boolean;
  favorite: boolean;
  /** A folder of GET /api/folders (its sub-folders included); absent or empty for any. */
  folder?: string;
  /** Only models ComfyUI has not used (nor the library held less long) in this many days; absent or 0 for any. */
  unused_days?: number;
  /** The cut-off a listing by `unused_days` answered (Unix seconds): sent in its place, so that later requests
   *  reach the models that listing listed rather than those unused as of their own arrival. */
  unused_before?: number;
}

export type WorkflowCheck = Answer<"checkWorkflow">;
export type WorkflowReference = Schemas["WorkflowReference"];
export type ReferenceStatus = WorkflowReference["status"];
