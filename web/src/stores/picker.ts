import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { api, ApiError } from "../api/client";
import type { ModelListItem } from "../api/types";
import {
  addPick,
  buildLoraDocument,
  itemsFromDocument,
  parseLoraPayload,
  replyOrigin,
  type PickedModel,
  type PickItem,
} from "../logic/loraList";
import { i18n } from "../i18n";
import { checkpointAnswer, isSha256, pickKind, pickMessage, type PickKind } from "../logic/pickProtocol";
import { one, query } from "../router";
import { errorText, useUiStore } from "./ui";

export const usePickerStore = defineStore("picker", () => {
  const ui = useUiStore();

  /** Picker mode for ComfyUI: `?pick=checkpoint` or `?pick=loras&payload=<LoRA list JSON>`. */
  const pickMode = computed<PickKind | null>(() => pickKind(one(query.value, "pick")));

  const pickerType = computed(() =>
    pickMode.value === "checkpoint" ? "checkpoints" : pickMode.value === "loras" ? "loras" : null,
  );

  /** The selection bar, in order. For a checkpoint it holds at most one item. */
  const picks = ref<PickItem[]>([]);
  /** Models the page knows (name and current path) by sha256, to fill and refresh entries. */
  const known = ref(new Map<string, PickedModel>());
  // Payload entries whose model the library does not have (removed, or never imported on this machine).
  const absent = ref(new Set<string>());
  const payloadError = ref("");
  let payloadVersion = 2;

  /** Where the answer may go, as the daemon judged it: the picker posts only to an origin it allowed. */
  const reply = ref<{ origin: string | null; state: "checking" | "allowed" | "refused" }>({
    origin: null,
    state: "checking",
  });

  /** The daemon's answer on `reply`, asked once the picker starts; a Cancel or Escape pressed before it came waits
   * for it instead of being dropped. */
  let replyChecked: Promise<void> = Promise.resolve();

  async function checkReplyOrigin(signal: AbortSignal): Promise<void> {
    const origin = replyOrigin(one(query.value, "origin"), document.referrer);
    reply.value = { origin, state: "checking" };
    if (!origin) {
      reply.value = { origin, state: "refused" };
      return;
    }
    try {
      const answer = await api.pickerOriginCheck(origin, signal);
      reply.value = { origin, state: answer.allowed ? "allowed" : "refused" };
    } catch (err) {
      reply.value = { origin, state: "refused" };
      ui.reportError(err);
    }
  }

  /** Starts the picker's reads (where the answer may go; the payload's models) and returns what cancels them, for
   * the picker bar to call when it goes. */
  function startPicker(): () => void {
    const controller = new AbortController();
    const stop = () => controller.abort();
    payloadError.value = "";
    picks.value = [];
    absent.value = new Set();
    replyChecked = checkReplyOrigin(controller.signal);
    if (pickMode.value !== "loras") return stop;
    try {
      const doc = parseLoraPayload(one(query.value, "payload"));
      payloadVersion = doc.version;
      picks.value = itemsFromDocument(doc);
    } catch (err) {
      payloadError.value = errorText(err);
    }
    // Fill names and current paths of the payload's models (a file may have moved since the node saved it).
    for (const item of picks.value) {
      const sha = item.entry?.sha256;
      if (isSha256(sha)) {
        api
          .model(sha, controller.signal)
          .then((m) => known.value.set(sha, { sha256: sha, name: m.name, path: m.path, cover: m.cover?.low }))
          .catch((err) => {
            if (err instanceof ApiError && err.status === 404) absent.value.add(sha);
          });
      }
    }
    return stop;
  }

  function isPicked(sha256: string): boolean {
    return picks.value.some((item) => item.key === sha256);
  }

  /** A click on a card in picker mode: a checkpoint replaces the choice, a LoRA joins the end of the list. */
  async function pick(item: ModelListItem): Promise<void> {
    try {
      const detail = await api.model(item.sha256);
      const model = { sha256: detail.sha256, name: detail.name, path: detail.path, cover: detail.cover?.low };
      known.value.set(model.sha256, model);
      picks.value =
        pickMode.value === "checkpoint"
          ? [{ key: model.sha256, entry: null, model }]
          : addPick(picks.value, model);
    } catch (err) {
      ui.reportError(err);
    }
  }

  function pickLabel(item: PickItem): string {
    const sha = item.entry?.sha256 || item.model?.sha256 || "";
    return known.value.get(sha)?.name || item.model?.name || item.entry?.name || item.entry?.full_path || "?";
  }

  function target(): Window | null {
    if (window.opener && window.opener !== window) return window.opener as Window;
    return window.parent !== window ? window.parent : null;
  }

  /** Sends the answer to the page that opened the picker, at that page's origin only, and only when the daemon
   * trusts that origin (its own, `allowed_origins`, or a ComfyUI that announced itself). */
  async function sendPick(confirmed: boolean): Promise<boolean> {
    await replyChecked;
    const to = target();
    const { origin, state } = reply.value;
    if (!to || !origin) {
      ui.notify(i18n.global.t("picker.noOpener"), "error");
      return false;
    }
    if (state !== "allowed") {
      ui.notify(i18n.global.t("picker.originRefused", { origin }), "error");
      return false;
    }
    let result: unknown = null;
    if (confirmed) {
      if (pickMode.value === "checkpoint") {
        const chosen = picks.value[0]?.model;
        result = chosen ? checkpointAnswer(chosen) : null;
      } else {
        result = buildLoraDocument(payloadVersion, picks.value, known.value);
      }
    }
    to.postMessage(pickMessage(result), origin);
    return true;
  }

  return {
    pickMode,
    pickerType,
    picks,
    known,
    absent,
    payloadError,
    reply,
    startPicker,
    isPicked,
    pick,
    pickLabel,
    sendPick,
  };
});
