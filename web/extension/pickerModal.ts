/**
 * The manager's picker in a modal over ComfyUI: an iframe of the daemon's page in picker mode, answered by
 * `postMessage`. Closing it (✕, Esc, the picker's own Cancel) answers null. Focus stays inside while it is open
 * and goes back to the button that opened it.
 */
import { returnFocus, trapFocus } from "../src/logic/dialog";
import { checkDaemon } from "./daemon";
import { originOf, pickAnswer, pickerUrl, type PickKind } from "../src/logic/pickProtocol";
import { daemonUrl } from "./settings";

let closeOpen: (() => void) | null = null;

/** Answers null at once when the daemon is down: the node's notice says so, and a dead frame would not. */
export async function openPicker(kind: PickKind, title: string, payload?: string): Promise<unknown> {
  closeOpen?.();
  const opener = document.activeElement;
  if ((await checkDaemon(true)).reachable === false) return null;
  const base = daemonUrl();
  const daemonOrigin = originOf(base) ?? "";

  const backdrop = document.createElement("div");
  backdrop.className = "hikaze-modal";
  backdrop.dataset.testid = "hikaze-picker-modal";
  const dialog = document.createElement("div");
  dialog.className = "hikaze-modal-dialog";
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-label", title);
  const bar = document.createElement("div");
  bar.className = "hikaze-modal-bar";
  const heading = document.createElement("strong");
  heading.textContent = title;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "hikaze-modal-close";
  close.textContent = "✕";
  close.title = "Close without picking (Esc)";
  close.setAttribute("aria-label", "Close without picking");
  close.dataset.testid = "hikaze-picker-close";
  bar.append(heading, close);
  const frame = document.createElement("iframe");
  frame.className = "hikaze-modal-frame";
  frame.dataset.testid = "hikaze-picker-frame";
  frame.title = title;
  frame.src = pickerUrl(base, kind, window.location.origin, payload);
  dialog.append(bar, frame);
  backdrop.append(dialog);

  return new Promise((resolve) => {
    const releaseFocus = trapFocus(dialog, close);
    const finish = (result: unknown): void => {
      window.removeEventListener("message", onMessage);
      window.removeEventListener("keydown", onKey, true);
      releaseFocus();
      backdrop.remove();
      closeOpen = null;
      returnFocus(opener);
      resolve(result);
    };
    const onMessage = (event: MessageEvent): void => {
      const answer = pickAnswer(event, daemonOrigin, frame.contentWindow);
      if (answer) finish(answer.result);
    };
    const onKey = (event: KeyboardEvent): void => {
      if (event.key !== "Escape") return;
      // ComfyUI has its own Escape bindings; this one belongs to the modal.
      event.stopPropagation();
      event.preventDefault();
      finish(null);
    };
    window.addEventListener("message", onMessage);
    window.addEventListener("keydown", onKey, true);
    close.addEventListener("click", () => finish(null));
    // Keys typed while the picker loads go to the picker (its Escape answers null too).
    frame.addEventListener("load", () => frame.focus());
    closeOpen = () => finish(null);
    document.body.append(backdrop);
  });
}

export function openManagerTab(): void {
  window.open(`${daemonUrl()}/`, "_blank", "noopener");
}
