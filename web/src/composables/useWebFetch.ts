import { ref } from "vue";
import { ApiError } from "../api/client";
import type { LookupAnswer } from "../api/types";
import { i18n } from "../i18n";
import { formatDay } from "../logic/format";
import { fetchOutcome, type FetchOutcome } from "../logic/webmeta";
import { useLookupsStore } from "../stores/lookups";
import { useUiStore } from "../stores/ui";

export type FoundOutcome = Extract<FetchOutcome, { kind: "found" }>;

/** What one kind of thing the details show (a model, a file of the queue) needs for "look it up now". */
export interface WebFetchTarget<K> {
  /** The lookup itself: POST …/metadata/fetch for `key`, forced or not. */
  request: (key: K, force: boolean) => Promise<LookupAnswer>;
  /** Whether the details still show `key` (the user may have moved on while the lookup ran). */
  shown: (key: K) => boolean;
  /** Reads what the details show again. */
  reload: () => Promise<void>;
  /**
   * After a 409 and the details read again: whether the refusal was about `key` itself (kept away from the web,
   * not hashed yet, no longer shown) rather than the lookups being off for the whole daemon.
   */
  ownRefusal: (key: K) => boolean;
  /** What a found record did, said in words. */
  foundText: (outcome: FoundOutcome) => string;
  /** Called when the answer says something changed. */
  changed?: () => void;
}

/**
 * "Look it up on the web now" for whatever the details show: one lookup, the details read again, and a message
 * that says what happened: what a found record did, not found (from memory, with "Ask again"), or that the
 * sources could not be reached. A 409 is the daemon's word, shown as given; when it is not about this item, the
 * lookups are off and the page offers them no more.
 */
export function useWebFetch<K>(target: WebFetchTarget<K>) {
  const ui = useUiStore();
  const lookups = useLookupsStore();
  const t = i18n.global.t;
  const fetching = ref(false);

  function say(key: K, answer: LookupAnswer): void {
    const outcome = fetchOutcome(answer);
    if (outcome.kind === "found") return ui.notify(target.foundText(outcome));
    if (!outcome.remembered) return ui.notify(t("webmeta.notFound"));
    const date = formatDay(outcome.checkedAt, i18n.global.locale.value);
    ui.notify(t("webmeta.notFoundRemembered", { date }), "info", undefined, {
      label: t("webmeta.askAgain"),
      run: () => void lookUp(key, true),
    });
  }

  /** Looks `key` up; `force` asks again though the sources said "not found" less than a week ago. */
  async function lookUp(key: K, force = false): Promise<void> {
    if (fetching.value || lookups.off !== null) return;
    fetching.value = true;
    try {
      const answer = await target.request(key, force);
      if (target.shown(key)) await target.reload();
      if (answer.changed) target.changed?.();
      say(key, answer);
    } catch (err) {
      if (err instanceof ApiError && err.status === 502) {
        ui.notify(t("webmeta.unreachable", { error: err.message }), "error");
      } else if (err instanceof ApiError && err.status === 409) {
        if (target.shown(key)) await target.reload();
        if (target.ownRefusal(key)) ui.notify(err.message, "error");
        else lookups.turnOff(err.message);
      } else {
        ui.reportError(err);
      }
    } finally {
      fetching.value = false;
    }
  }

  return { fetching, lookUp };
}
