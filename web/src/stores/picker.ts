import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { api } from "../api/client";
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
import { one, query } from "../router";
import { errorText, useUiStore } from "./ui";

/** Picker mode for ComfyUI: `?pick=checkpoint` or `?pick=loras&payload=<LoRA list JSON>`. */
export type PickKind = "checkpoint" | "loras";

export const usePickerStore = defineStore("picker", () => {
  const ui = useUiStore();

  const pickMode = computed<PickKind | null>(() => {
    const kind = one(query.value, "pick");
    return kind === "checkpoint" || kind === "loras" ? kind : null;
  });

  const pickerType = computed(() =>
    pickMode.value === "checkpoint" ? "checkpoints" : pickMode.value === "loras" ? "loras" : null,
  );

  /** The selection bar, in order. For a checkpoint it holds at most one item. */
  const picks = ref<PickItem[]>([]);
  /** Models the page knows (name and current path) by sha256, to fill and refresh entries. */
  const known = ref(new Map<string, PickedModel>());
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

  async function checkReplyOrigin(): Promise<void> {
    const origin = replyOrigin(one(query.value, "origin"), document.referrer);
    reply.value = { origin, state: "checking" };
    if (!origin) {
      reply.value = { origin, state: "refused" };
      return;
    }
    try {
      const answer = await api.pickerOriginCheck(origin);
      reply.value = { origin, state: answer.allowed ? "allowed" : "refused" };
    } catch (err) {
      reply.value = { origin, state: "refused" };
      ui.reportError(err);
    }
  }

  function startPicker(): void {
    payloadError.value = "";
    picks.value = [];
    replyChecked = checkReplyOrigin();
    if (pickMode.value !== "loras") return;
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
      if (sha && /^[0-9a-f]{64}$/.test(sha)) {
        api
          .model(sha)
          .then((m) => known.value.set(sha, { sha256: sha, name: m.name, path: m.path, cover: m.cover?.low }))
          .catch(() => undefined);
      }
    }
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
        result = chosen ? { ckpt_path: chosen.path, sha256: chosen.sha256, name: chosen.name } : null;
      } else {
        result = buildLoraDocument(payloadVersion, picks.value, known.value);
      }
    }
    to.postMessage({ type: "hikaze-pick", result }, origin);
    return true;
  }

  return {
    pickMode,
    pickerType,
    picks,
    known,
    payloadError,
    reply,
    startPicker,
    isPicked,
    pick,
    pickLabel,
    sendPick,
  };
});
