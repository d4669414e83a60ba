/** The tooltip on a LoRA's name: its name and path, and its cover image, which the daemon serves by model at a URL
 * an <img> can load from ComfyUI's origin (no JSON, so no CORS needed). */
import { coverUrl, isSha256 } from "../src/logic/pickProtocol";
import type { LoraEntry } from "./loraRows";
import { daemonUrl } from "./settings";

let tip: HTMLDivElement | null = null;

function element(): HTMLDivElement {
  if (!tip) {
    tip = document.createElement("div");
    tip.className = "hikaze-tip";
    tip.dataset.testid = "hikaze-cover-tip";
  }
  return tip;
}

export function showCover(anchor: HTMLElement, entry: LoraEntry): void {
  const box = element();
  box.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = entry.name || entry.full_path;
  const path = document.createElement("div");
  path.className = "hikaze-tip-path";
  path.textContent = entry.full_path;
  box.append(title, path);
  const rect = anchor.getBoundingClientRect();
  box.style.left = `${Math.max(4, rect.left)}px`;
  box.style.top = `${rect.bottom + 6}px`;
  document.body.append(box);
  if (!isSha256(entry.sha256)) return;
  const img = document.createElement("img");
  img.alt = "";
  // A model without images answers 404: the tooltip then keeps just its text.
  img.addEventListener("error", () => img.remove());
  img.src = coverUrl(daemonUrl(), entry.sha256, "low");
  box.append(img);
}

export function hideCover(): void {
  tip?.remove();
}
