import type { Ref } from "vue";
import { api } from "../api/client";
import type { ModelDetail } from "../api/types";
import { i18n } from "../i18n";
import { nothingNew, sourceName } from "../logic/webmeta";
import { useLibraryStore } from "../stores/library";
import { useWebFetch } from "./useWebFetch";

/**
 * "Fetch from Civitai" for the model in the details (POST /api/models/{sha256}/metadata/fetch): the message says
 * what the record added to the model. A 409 that is not about this model being kept away from the web means the
 * lookups are off.
 */
export function useModelFetch(detail: Readonly<Ref<ModelDetail | null>>, reload: () => Promise<void>) {
  const library = useLibraryStore();
  const t = i18n.global.t;
  const shown = (sha256: string): boolean => detail.value?.sha256 === sha256;

  const { fetching, lookUp } = useWebFetch<string>({
    request: (sha256, force) => api.fetchModelMetadata(sha256, force),
    shown,
    reload,
    // Kept away from the web (set in another tab meanwhile) is this model's business.
    ownRefusal: (sha256) => !shown(sha256) || detail.value?.meta_json.never_fetch === true,
    changed: () => library.libraryChanged(0),
    foundText: (outcome) => {
      const source = sourceName(outcome.source);
      if (nothingNew(outcome)) return t("webmeta.foundNothing", { source });
      const added = outcome.fields.map((field) => t(`webmeta.field.${field}`));
      if (outcome.tags) added.push(t("webmeta.tags", { n: outcome.tags }, outcome.tags));
      if (outcome.images) added.push(t("webmeta.images", { n: outcome.images }, outcome.images));
      const what = new Intl.ListFormat(i18n.global.locale.value, { style: "long", type: "conjunction" }).format(added);
      return t("webmeta.found", { source, what });
    },
  });

  return { fetching, fetchModel: lookUp };
}
