/** The panel of the Hikaze Checkpoint Loader: the picked checkpoint's name and the button that opens the picker. */
import type { ComfyNode } from "./comfy";
import { daemonNotice } from "./daemonNotice";
import { fitNode } from "./nodeSize";
import { openPicker } from "./pickerModal";
import { checkpointFromPick, describeCheckpoint, writeCheckpoint } from "../src/logic/pickProtocol";
import { payloadText, payloadWidget, watchPayload, writePayload } from "./payloadWidget";

export class CheckpointPanel {
  readonly element = document.createElement("div");
  private readonly notice: HTMLElement;
  private readonly current = document.createElement("div");
  private readonly pickButton = document.createElement("button");

  constructor(private readonly node: ComfyNode) {
    this.element.className = "hikaze-panel hikaze-checkpoint";
    this.notice = daemonNotice(node, () => fitNode(node));
    this.current.className = "hikaze-current";
    this.current.dataset.testid = "hikaze-checkpoint-name";
    this.pickButton.type = "button";
    this.pickButton.className = "hikaze-btn";
    this.pickButton.textContent = "Pick checkpoint…";
    this.pickButton.dataset.testid = "hikaze-pick-checkpoint";
    this.pickButton.disabled = !payloadWidget(node);
    this.pickButton.addEventListener("click", () => void this.pick());
    this.element.append(this.notice, this.current, this.pickButton);
    watchPayload(node, () => this.sync());
    this.sync();
  }

  minHeight(): number {
    return 76 + (this.notice.hidden ? 0 : 64);
  }

  refresh(): void {
    this.sync();
  }

  private sync(): void {
    const { label, error } = describeCheckpoint(payloadText(this.node));
    this.current.classList.toggle("hikaze-error", error !== null);
    this.current.textContent = error !== null
      ? `The payload is not valid JSON (${error}); fix the text or pick again.`
      : label ?? "(no checkpoint picked)";
    this.current.title = this.current.textContent;
  }

  private async pick(): Promise<void> {
    const result = await openPicker("checkpoint", "Pick a checkpoint");
    if (result === null) return;
    try {
      writePayload(this.node, writeCheckpoint(checkpointFromPick(result)));
      this.sync();
    } catch (err) {
      this.current.classList.add("hikaze-error");
      this.current.textContent = err instanceof Error ? err.message : String(err);
    }
  }
}
