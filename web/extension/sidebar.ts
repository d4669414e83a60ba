/** The sidebar tab: where the manager runs, whether it answers, and the way to open it. */
import { checkDaemon, onStatus } from "./daemon";
import { openManagerTab } from "./pickerModal";

let unsubscribe: (() => void) | null = null;

export function renderSidebar(host: HTMLElement): void {
  const box = document.createElement("div");
  box.className = "hikaze-panel hikaze-sidebar";
  const title = document.createElement("strong");
  title.textContent = "Hikaze Model Manager";
  const state = document.createElement("div");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "hikaze-btn";
  open.textContent = "Open the manager in a new tab";
  open.addEventListener("click", openManagerTab);
  box.append(title, state, open);
  host.replaceChildren(box);
  // ComfyUI may render the tab again; only the newest copy listens.
  unsubscribe?.();
  unsubscribe = onStatus((status) => {
    const answer = status.reachable === null ? "checking…" : status.reachable ? "running" : "not reachable";
    state.textContent = `${status.url}: ${answer}${status.version ? ` (version ${status.version})` : ""}`;
  });
  void checkDaemon(true);
}
