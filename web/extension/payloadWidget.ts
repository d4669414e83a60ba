/** Reading, writing and watching a node's `hikaze_payload` text widget, the one place the node's state lives. */
import { app } from "comfyui/app";
import type { ComfyNode, ComfyWidget } from "./comfy";

export const PAYLOAD = "hikaze_payload";

export function payloadWidget(node: ComfyNode): ComfyWidget | undefined {
  return node.widgets?.find((widget) => widget.name === PAYLOAD);
}

export function payloadText(node: ComfyNode): string {
  const value = payloadWidget(node)?.value;
  return typeof value === "string" ? value : "";
}

/**
 * Writes the payload the way a user's edit would: the value, the widget's callback, the node's change hook, and a
 * dirty canvas, so ComfyUI saves it with the workflow and marks the workflow modified.
 */
export function writePayload(node: ComfyNode, text: string): void {
  const widget = payloadWidget(node);
  if (!widget) return;
  const old = widget.value;
  widget.value = text;
  widget.callback?.(text);
  node.onWidgetChanged?.(widget.name, text, old, widget);
  app.graph?.setDirtyCanvas?.(true, true);
}

/**
 * Calls `changed` whenever the payload may have changed behind our back: a hand edit in the text box (the DOM
 * `input` event, or the callback ComfyUI's Vue widgets fire), a workflow being loaded into the node.
 */
export function watchPayload(node: ComfyNode, changed: () => void): void {
  const widget = payloadWidget(node);
  if (widget) {
    const callback = widget.callback;
    widget.callback = function (this: unknown, ...args: unknown[]) {
      const answer = callback?.apply(this, args as [unknown, ...unknown[]]);
      changed();
      return answer;
    };
    // `element` is the DOM widget's element; `inputEl` is its deprecated alias, read only where `element` is absent.
    const box = widget.element ?? widget.inputEl;
    box?.addEventListener("input", changed);
    box?.addEventListener("change", changed);
  }
  const onConfigure = node.onConfigure;
  node.onConfigure = function (this: unknown, ...args: unknown[]) {
    const answer = onConfigure?.apply(this, args);
    changed();
    return answer;
  };
}

export function markChanged(): void {
  app.graph?.setDirtyCanvas?.(true, true);
}
