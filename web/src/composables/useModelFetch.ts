import { ref, type Ref } from "vue";
import { ApiError, api } from "../api/client";
import type { LookupAnswer, ModelDetail } from "../api/types";
import { i18n } from "../i18n";
import { formatDay } from "../logic/format";
import { fetchOutcome, nothingNew, sourceName } from "../logic/webmeta";
import { useLibraryStore } from "../stores/library";
import { useLookupsStore } from "../stores/lookups";
import { useUiStore } from "../stores/ui";

/**
 * "Fetch from Civitai" for the model in the details: one lookup now (POST /api/models/{sha256}/metadata/fetch),
 * then the model read again, and a message that says what happened: what was added, not found (from memory, with
 * "Ask again"), or that the sources could not be reached. A 409 is the daemon's word, shown as given; when it is
 * not about this model being kept away from the web, the lookups are off and the page offers them no more.
 */
export function useModelFetch(detail: Readonly<Ref<ModelDetail | null>>, reload: () => Promise<void>) {
  const ui = useUiStore();
  const library = useLibraryStore();
  const lookups = useLookupsStore();
  const t = i18n.global.t;
  const fetching = ref(false);

  const locale = (): string => i18n.global.locale.value;
  const shown = (sha256: string): boolean => detail.value?.sha256 === sha256;

  function say(sha256: string, answer: LookupAnswer): void {
    const outcome = fetchOutcome(answer);
    if (outcome.kind === "not_found") {
      if (!outcome.remembered) return ui.notify(t("webmeta.notFound"));
      ui.notify(t("webmeta.notFoundRemembered", { date: formatDay(outcome.checkedAt, locale()) }), "info", undefined, {
        label: t("webmeta.askAgain"),
        run: () => void fetchModel(sha256, true),
      });
      return;
    }
    const source = sourceName(outcome.source);
    if (nothingNew(outcome)) return ui.notify(t("webmeta.foundNothing", { source }));
    const added = outcome.fields.map((field) => t(`webmeta.field.${field}`));
    if (outcome.tags) added.push(t("webmeta.tags", { n: outcome.tags }, outcome.tags));
    if (outcome.images) added.push(t("webmeta.images", { n: outcome.images }, outcome.images));
    const what = new Intl.ListFormat(locale(), { style: "long", type: "conjunction" }).format(added);
    ui.notify(t("webmeta.found", { source, what }));
  }

  /** Looks the model up; `force` asks again though the sources said "not found" less than a week ago. */
  async function fetchModel(sha256: string, force = false): Promise<void> {
    if (fetching.value || lookups.off !== null) return;
    fetching.value = true;
    try {
      const answer = await api.fetchModelMetadata(sha256, force);
      if (shown(sha256)) await reload();
      if (answer.changed) library.libraryChanged(0);
      say(sha256, answer);
    } catch (err) {
      if (err instanceof ApiError && err.status === 502) {
        ui.notify(t("webmeta.unreachable", { error: err.message }), "error");
      } else if (err instanceof ApiError && err.status === 409) {
        if (shown(sha256)) await reload();
        // Kept away from the web (set in another tab meanwhile) is this model's business; anything else means the
        // lookups are off.
        const keptAway = !shown(sha256) || detail.value?.meta_json.never_fetch === true;
        if (keptAway) ui.notify(err.message, "error");
        else lookups.turnOff(err.message);
      } else {
        ui.reportError(err);
      }
    } finally {
      fetching.value = false;
    }
  }

  return { fetching, fetchModel };
}
