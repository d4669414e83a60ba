/** The line a Hikaze node shows while the daemon cannot be reached: what is wrong, and that the text still works. */
import type { ComfyNode } from "./comfy";
import { checkDaemon, onStatus, type DaemonStatus } from "./daemon";

function describe(status: DaemonStatus): string {
  if (status.reachable !== false) return status.note;
  const hint = status.note || "Start it (hikaze-mm serve) or turn on Settings › Hikaze › Autostart.";
  return `The model manager at ${status.url} is not reachable, so models cannot be picked. ${hint} `
    + "The payload text can still be edited; the node loads the saved paths without the daemon.";
}

export function daemonNotice(node: ComfyNode, changed: () => void): HTMLElement {
  const box = document.createElement("div");
  box.className = "hikaze-notice";
  box.dataset.testid = "hikaze-daemon-status";
  const text = document.createElement("span");
  const retry = document.createElement("button");
  retry.type = "button";
  retry.textContent = "Retry";
  retry.addEventListener("click", () => void checkDaemon(true));
  box.append(text, retry);
  const stop = onStatus((status) => {
    const message = describe(status);
    const wasHidden = box.hidden;
    box.hidden = !message;
    retry.hidden = status.reachable !== false;
    text.textContent = message;
    if (wasHidden !== box.hidden) changed();
  });
  const onRemoved = node.onRemoved;
  node.onRemoved = function (this: unknown, ...args: unknown[]) {
    stop();
    return onRemoved?.apply(this, args);
  };
  void checkDaemon();
  return box;
}
