import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError } from "../api/client";

/** Page-wide messages and the one confirmation dialog; never the browser's alert/confirm. */

/** A button a message offers (e.g. "Ask again"); the message goes once it is clicked. */
export interface ToastAction {
  label: string;
  run: () => void;
}

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
  action?: ToastAction;
}

// How long a message stays: an error longer, one that offers a button longer still, so it can be reached.
const TOAST_MS = { info: 3500, error: 9000, action: 12000 };

export interface ConfirmRequest {
  title: string;
  message: string;
  ok: string;
  cancel?: string;
  danger?: boolean;
  /** An optional checkbox offered with the question (its answer comes back in `checked`). */
  checkbox?: string;
  resolve: (answer: { ok: boolean; checked: boolean }) => void;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.message} (${err.status})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

export const useUiStore = defineStore("ui", () => {
  const toasts = ref<Toast[]>([]);
  let nextToast = 1;

  function dismiss(id: number): void {
    const i = toasts.value.findIndex((t) => t.id === id);
    if (i >= 0) toasts.value.splice(i, 1);
  }

  function notify(text: string, kind: Toast["kind"] = "info", ms?: number, action?: ToastAction): void {
    const toast: Toast = { id: nextToast++, kind, text, ...(action ? { action } : {}) };
    ms ??= action ? TOAST_MS.action : TOAST_MS[kind];
    toasts.value.push(toast);
    setTimeout(() => dismiss(toast.id), ms);
  }

  /** Shows an API failure in the page; returns nothing so callers can `catch(ui.reportError)`. */
  function reportError(err: unknown): void {
    if (err instanceof DOMException && err.name === "AbortError") return;
    if (err instanceof ApiError && err.status === 401) return; // the token dialog asks instead
    notify(errorText(err), "error");
  }

  const confirmRequest = ref<ConfirmRequest | null>(null);

  function askConfirm(options: Omit<ConfirmRequest, "resolve">): Promise<{ ok: boolean; checked: boolean }> {
    confirmRequest.value?.resolve({ ok: false, checked: false });
    return new Promise((resolve) => {
      confirmRequest.value = {
        ...options,
        resolve: (answer) => {
          confirmRequest.value = null;
          resolve(answer);
        },
      };
    });
  }

  async function confirm(options: Omit<ConfirmRequest, "resolve" | "checkbox">): Promise<boolean> {
    return (await askConfirm(options)).ok;
  }

  return { toasts, notify, dismiss, reportError, confirmRequest, askConfirm, confirm };
});
