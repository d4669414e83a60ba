import { ref } from "vue";
import type { BulkAnswer, BulkBody } from "../logic/bulk";
import type {
  Answer,
  ImportReport,
  ModelDetail,
  ModelFilter,
  Facets,
  FolderTree,
  ModelList,
  ModelPatch,
  FetchMetadataBody,
  LookupAnswer,
  PendingDetail,
  PendingList,
  SortKey,
  Status,
  Strategy,
  WorkflowCheck,
} from "./types";

/** Set when the daemon wants its auth token: the page then asks for it once (see TokenDialog). */
export const authNeeded = ref(false);

/** An answer from the daemon that was not a success; `message` is the daemon's own `error` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The answer's JSON, for the errors that carry more than their message (a 409's changed fields). */
    readonly body: unknown = undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A body sent as it is with its own type (an image's bytes), instead of as JSON. */
class RawBody {
  constructor(
    readonly data: Blob | string,
    readonly type: string,
  ) {}
}

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method, signal, headers: {} };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body instanceof RawBody) {
    init.body = body.data;
    (init.headers as Record<string, string>)["Content-Type"] = body.type;
  } else if (method !== "GET" && method !== "HEAD") {
    // The daemon takes a change only with this type, also without a body: a page of another site cannot send
    // it without asking first.
    if (body !== undefined) init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, `the daemon did not answer (${String(err)})`);
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (response.status === 401 && path !== "/api/session") authNeeded.value = true;
  if (!response.ok) {
    const message =
      data && typeof data === "object" && "error" in data ? String((data as { error: unknown }).error) : text;
    throw new ApiError(response.status, message || `${response.status} ${response.statusText}`, data);
  }
  return data as T;
}

function filterParams(filter: ModelFilter): URLSearchParams {
  const p = new URLSearchParams();
  if (filter.q.trim()) p.set("q", filter.q.trim());
  if (filter.type) p.set("type", filter.type);
  if (filter.base_model) p.set("base_model", filter.base_model);
  if (filter.tags.length) p.set("tags", filter.tags.join(","));
  if (filter.exclude_tags.length) p.set("exclude_tags", filter.exclude_tags.join(","));
  if (filter.status !== "ok") p.set("status", filter.status);
  if (filter.hide_nsfw) p.set("hide_nsfw", "true");
  if (filter.favorite) p.set("favorite", "true");
  if (filter.folder) p.set("folder", filter.folder);
  if (filter.unused_before) p.set("unused_before", String(filter.unused_before));
  else if (filter.unused_days) p.set("unused_days", String(filter.unused_days));
  return p;
}

const enc = encodeURIComponent;

export const api = {
  status: (signal?: AbortSignal) => request<Status>("GET", "/api/status", undefined, signal),
  types: () => request<Answer<"listTypes">>("GET", "/api/types"),
  tags: () => request<Answer<"listTags">>("GET", "/api/tags"),

  /** A page from `offset`, or right after the page whose `next` is `after` (a seek, as fast deep in the library). */
  models(filter: ModelFilter, sort: { key: SortKey; dir: "asc" | "desc" }, from: { offset: number } | { after: string },
    limit: number, signal?: AbortSignal) {
    const p = filterParams(filter);
    p.set("sort", sort.key);
    p.set("dir", sort.dir);
    if ("after" in from) p.set("after", from.after);
    else p.set("offset", String(from.offset));
    p.set("limit", String(limit));
    return request<ModelList>("GET", `/api/models?${p}`, undefined, signal);
  },
  facets: (filter: ModelFilter, signal?: AbortSignal) =>
    request<Facets>("GET", `/api/facets?${filterParams(filter)}`, undefined, signal),
  folders(filter: Pick<ModelFilter, "type" | "status" | "hide_nsfw">, signal?: AbortSignal) {
    const p = new URLSearchParams();
    if (filter.type) p.set("type", filter.type);
    if (filter.status !== "ok") p.set("status", filter.status);
    if (filter.hide_nsfw) p.set("hide_nsfw", "true");
    return request<FolderTree>("GET", `/api/folders?${p}`, undefined, signal);
  },
  model: (sha256: string, signal?: AbortSignal) =>
    request<ModelDetail>("GET", `/api/models/${enc(sha256)}`, undefined, signal),
  patchModel: (sha256: string, patch: ModelPatch) => request<ModelDetail>("PATCH", `/api/models/${enc(sha256)}`, patch),
  modelPath: (sha256: string) => request<Answer<"getModelPath">>("GET", `/api/models/${enc(sha256)}/path`),
  deleteModel: (sha256: string, ignoreFile: boolean) =>
    request<Answer<"deleteModel">>("DELETE", `/api/models/${enc(sha256)}`, { ignore_file: ignoreFile }),
  bulk: (body: BulkBody) => request<BulkAnswer>("POST", "/api/models/bulk", body),
  uploadImage(sha256: string, file: Blob, name = "image") {
    const form = new FormData();
    form.append("image", file, name);
    return request<Answer<"uploadImage", 201>>("POST", `/api/models/${enc(sha256)}/images`, form);
  },
  deleteImage: (sha256: string, seq: number) =>
    request<Answer<"deleteImage">>("DELETE", `/api/models/${enc(sha256)}/images/${seq}`),
  setCover: (sha256: string, seq: number) => request<Answer<"setCover">>("PUT", `/api/models/${enc(sha256)}/cover`, { seq }),
  duplicates: (offset: number, limit: number, signal?: AbortSignal) =>
    request<Answer<"listDuplicates">>("GET", `/api/duplicates?offset=${offset}&limit=${limit}`, undefined, signal),
  /** Looks one model up on the web now; `force` asks again though "not found" is less than a week old. */
  fetchModelMetadata: (sha256: string, force = false) =>
    request<LookupAnswer>("POST", `/api/models/${enc(sha256)}/metadata/fetch`, force ? { force: true } : undefined),
  /** Looks a hashed file of the queue up on the web now: its row takes the previews, its model the rest at import. */
  fetchPendingMetadata: (id: number, force = false) =>
    request<LookupAnswer>("POST", `/api/pending/${id}/metadata/fetch`, force ? { force: true } : undefined),
  /** Queues lookups in the background (202); how many wait now. */
  fetchMetadata: (body: FetchMetadataBody) =>
    request<Answer<"fetchMetadata", 202>>("POST", "/api/metadata/fetch", body),
  trashModelFile: (sha256: string, path: string) =>
    request<Answer<"trashModelCopy">>("POST", `/api/models/${enc(sha256)}/copies/trash`, { path }),

  pending(status: string, offset: number, limit: number, signal?: AbortSignal) {
    const p = new URLSearchParams({ offset: String(offset), limit: String(limit) });
    if (status) p.set("status", status);
    return request<PendingList>("GET", `/api/pending?${p}`, undefined, signal);
  },
  pendingDetail: (id: number, signal?: AbortSignal) =>
    request<PendingDetail>("GET", `/api/pending/${id}`, undefined, signal),
  importPending: (ids: number[], strategy: Strategy | null = null, deleteFiles = false, confirmDamaged = false) =>
    request<ImportReport>("POST", "/api/pending/import", {
      ids,
      conflict_strategy: strategy,
      delete_files: deleteFiles,
      confirm_damaged: confirmDamaged,
    }),
  restorePending: (ids: number[]) =>
    request<Answer<"restorePending">>("POST", "/api/pending/restore", { ids }),
  retryPending: (ids: number[]) =>
    request<Answer<"retryPending">>("POST", "/api/pending/retry", { ids }),
  scan: () => request<Answer<"startScan", 202>>("POST", "/api/scan"),
  session: (token: string) => request<Answer<"startSession">>("POST", "/api/session", { token }),
  /** Every model a workflow refers to, classified against the daemon's own folders. */
  checkWorkflow: (body: Blob | string, type: string, signal?: AbortSignal) =>
    request<WorkflowCheck>("POST", "/api/workflows/check", new RawBody(body, type), signal),
  pickerOriginCheck: (origin: string, signal?: AbortSignal) =>
    request<Answer<"pickerOriginCheck">>("GET", `/api/picker/origin-check?origin=${enc(origin)}`, undefined, signal),
};
