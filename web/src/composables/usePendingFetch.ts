import type { Ref } from "vue";
import { api } from "../api/client";
import type { PendingDetail } from "../api/types";
import { i18n } from "../i18n";
import { sourceName } from "../logic/webmeta";
import { useWebFetch } from "./useWebFetch";

/**
 * "Look up on Civitai" for the file of the queue in the details (POST /api/pending/{id}/metadata/fetch): a record
 * found gives the row its previews now, and fills the model's fields when the file is imported, which the message
 * says. A 409 about this file (not hashed yet, kept away from the web) is shown as given; any other means the
 * lookups are off.
 */
export function usePendingFetch(detail: Readonly<Ref<PendingDetail | null>>, reload: () => Promise<void>) {
  const t = i18n.global.t;
  const shown = (id: number): boolean => detail.value?.id === id;

  const { fetching, lookUp } = useWebFetch<number>({
    request: (id, force) => api.fetchPendingMetadata(id, force),
    shown,
    reload,
    ownRefusal: (id) => !shown(id) || detail.value?.sha256 == null || detail.value.meta_json.never_fetch === true,
    foundText: (outcome) =>
      t("webmeta.pendingFound", { source: sourceName(outcome.source), n: outcome.images }, outcome.images),
  });

  return { fetching, fetchPending: lookUp };
}
