/** The LoRA list drawn inside the Hikaze LoRA Power Loader, rgthree style, kept in step with `hikaze_payload`. */
import type { ComfyNode } from "./comfy";
import { hideCover, showCover } from "./coverTooltip";
import { daemonNotice } from "./daemonNotice";
import {
  SHOW_STRENGTHS,
  SINGLE,
  STRENGTH_MODES,
  allEnabled,
  displayName,
  mergePicked,
  moveEntry,
  readDocument,
  removeEntry,
  setEnabled,
  setStrength,
  setWord,
  strengthMode,
  toggleAll,
  wordToggles,
  writeDocument,
  type LoraDocument,
  type StrengthField,
} from "./loraRows";
import { knownWords, loadWords } from "./loraWords";
import { fitNode } from "./nodeSize";
import { openPicker } from "./pickerModal";
import { markChanged, payloadText, payloadWidget, watchPayload, writePayload } from "./payloadWidget";
import { defaultStrengthMode } from "./settings";

const ROW_PX = 26;
const WORDS_PX = 20;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A button; one that shows a symbol (▲ ▼ ✕) is named by `label`, as a screen reader cannot read the symbol. */
function button(text: string, title: string, testid: string, onClick: () => void, label?: string): HTMLButtonElement {
  const b = el("button", "hikaze-btn", text);
  b.type = "button";
  b.title = title;
  if (label !== undefined) b.setAttribute("aria-label", label);
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

export class LoraPanel {
  readonly element = el("div", "hikaze-panel hikaze-loras");
  private readonly notice: HTMLElement;
  private readonly error = el("div", "hikaze-error");
  private readonly list = el("div", "hikaze-rows");
  private readonly add: HTMLButtonElement;
  private readonly mode = el("select", "hikaze-mode");
  private doc: LoraDocument | null = null;
  private shown: string | null = null;

  constructor(private readonly node: ComfyNode) {
    node.properties ??= {};
    node.properties[SHOW_STRENGTHS] = strengthMode(node.properties[SHOW_STRENGTHS], defaultStrengthMode());
    this.notice = daemonNotice(node, () => fitNode(node));
    this.error.dataset.testid = "hikaze-payload-error";
    this.error.setAttribute("role", "alert");
    this.list.dataset.testid = "hikaze-lora-list";
    this.add = button("+ Add LoRAs", "Pick LoRAs in the model manager", "hikaze-add-loras", () => void this.pick());
    for (const value of STRENGTH_MODES) this.mode.append(new Option(value, value));
    this.mode.title = SHOW_STRENGTHS;
    this.mode.dataset.testid = "hikaze-strength-mode";
    this.mode.addEventListener("change", () => {
      (node.properties ??= {})[SHOW_STRENGTHS] = strengthMode(this.mode.value);
      markChanged();
      this.render();
    });
    const footer = el("div", "hikaze-footer");
    footer.append(this.add, el("span", "hikaze-spacer"), this.mode);
    this.element.append(this.notice, this.error, this.list, footer);

    const onPropertyChanged = node.onPropertyChanged;
    node.onPropertyChanged = (name, value, previous) => {
      const answer = onPropertyChanged?.call(node, name, value, previous);
      if (name === SHOW_STRENGTHS) queueMicrotask(() => this.render());
      return answer;
    };
    watchPayload(node, () => this.sync());
    this.sync();
  }

  /** Rows for ComfyUI's layout: the list grows the node instead of scrolling inside it. */
  minHeight(): number {
    const rows = this.doc ? Math.max(1, this.doc.loras.length) + 1 : 0;
    const extra = (this.notice.hidden ? 0 : 64) + (this.error.hidden ? 0 : 48);
    // A row's words wrap to the node's width: their drawn height, or one line before they are laid out.
    let words = 0;
    for (const line of this.list.querySelectorAll<HTMLElement>(".hikaze-words:not([hidden])")) {
      words += Math.max(line.offsetHeight, WORDS_PX) + 2;
    }
    return 12 + rows * ROW_PX + words + 32 + extra;
  }

  /** After a workflow loaded into the node: its text, whatever we showed before. */
  refresh(): void {
    this.sync(true);
  }

  /** Re-reads the payload unless it is the text we wrote last (so typing in a row keeps its focus). */
  sync(force = false): void {
    const text = payloadText(this.node);
    if (!force && text === this.shown) return;
    this.shown = text;
    const parsed = readDocument(text);
    this.doc = parsed.doc;
    this.error.hidden = parsed.error === null;
    this.error.textContent = parsed.error === null
      ? ""
      : `The payload is not a LoRA list (${parsed.error}). Fix the text below; the list comes back when it parses.`;
    this.render();
  }

  private commit(doc: LoraDocument, rerender = true): void {
    this.doc = doc;
    const text = writeDocument(doc);
    this.shown = text;
    writePayload(this.node, text);
    if (rerender) this.render();
  }

  private async pick(): Promise<void> {
    if (!this.doc) return;
    // Compact: the list travels in the picker's query string.
    const result = await openPicker("loras", "Pick LoRAs", JSON.stringify(this.doc));
    if (result === null) return;
    // The payload may have been edited while the picker was open; the freshest text decides the strengths.
    this.sync();
    try {
      this.commit(mergePicked(this.doc, result));
    } catch (err) {
      this.error.hidden = false;
      this.error.textContent = `The picker's answer was not a LoRA list: ${err instanceof Error ? err.message : err}`;
    }
  }

  private render(): void {
    const doc = this.doc;
    const single = strengthMode(this.node.properties?.[SHOW_STRENGTHS]) === SINGLE;
    this.mode.value = single ? SINGLE : STRENGTH_MODES[0];
    this.element.classList.toggle("hikaze-single", single);
    this.add.disabled = !doc || !payloadWidget(this.node);
    this.add.title = doc ? "Pick LoRAs in the model manager" : "Fix the payload text first";
    this.list.hidden = !doc;
    this.list.replaceChildren();
    if (doc) {
      this.list.append(this.header(doc, single));
      if (!doc.loras.length) this.list.append(el("div", "hikaze-empty", "No LoRAs yet: “+ Add LoRAs” picks some."));
      doc.loras.forEach((_, index) => this.list.append(this.row(doc, index, single), this.words(doc, index)));
    }
    fitNode(this.node);
  }

  private header(doc: LoraDocument, single: boolean): HTMLElement {
    const head = el("div", "hikaze-row hikaze-head");
    const all = el("input", "hikaze-check");
    all.type = "checkbox";
    all.checked = allEnabled(doc);
    all.indeterminate = !all.checked && doc.loras.some((entry) => entry.enabled);
    all.disabled = !doc.loras.length;
    all.dataset.testid = "hikaze-toggle-all";
    all.addEventListener("change", () => this.commit(toggleAll(doc)));
    const label = el("label", "hikaze-name", "Toggle all");
    label.prepend(all);
    head.append(label);
    if (single) head.append(el("span", "hikaze-col", "strength"));
    else head.append(el("span", "hikaze-col", "model"), el("span", "hikaze-col", "clip"));
    head.append(el("span", "hikaze-actions"));
    return head;
  }

  private strength(doc: LoraDocument, index: number, field: StrengthField, value: number): HTMLInputElement {
    const input = el("input", "hikaze-strength");
    input.type = "number";
    input.step = "0.05";
    input.value = String(value);
    input.dataset.testid = field === "both" ? "hikaze-strength" : `hikaze-strength-${field}`;
    input.title = field === "both" ? "Strength (model and clip)" : `Strength ${field}`;
    // `change` fires on Enter, blur and spinner clicks, never mid-typing, so "0." is not read as 0.
    input.addEventListener("change", () => {
      const next = setStrength(this.doc ?? doc, index, field, input.value);
      if (next === (this.doc ?? doc)) input.value = String(value);
      else this.commit(next, false);
    });
    return input;
  }

  /** The row's trigger words as toggles; an unticked word is left out of the node's `trigger_words` output. */
  private words(doc: LoraDocument, index: number): HTMLElement {
    const line = el("div", "hikaze-words");
    line.dataset.testid = "hikaze-trigger-words";
    const draw = () => {
      const entry = this.doc?.loras[index];
      const toggles = entry ? wordToggles(entry, knownWords(entry)) : [];
      line.hidden = !toggles.length;
      line.classList.toggle("hikaze-off", entry?.enabled === false);
      line.replaceChildren(
        ...toggles.map(({ word, on }) => {
          const label = el("label", `hikaze-word${on ? "" : " hikaze-word-off"}`);
          label.dataset.testid = "hikaze-trigger-word";
          label.title = on ? "Ticked: in the trigger_words output" : "Unticked: left out of the trigger_words output";
          const box = el("input", "hikaze-check");
          box.type = "checkbox";
          box.checked = on;
          box.addEventListener("change", () => {
            const current = this.doc?.loras[index];
            if (!current) return;
            this.commit(setWord(this.doc!, index, word, box.checked, knownWords(current)), false);
            draw();
            line.querySelectorAll<HTMLInputElement>("input")[toggles.findIndex((t) => t.word === word)]?.focus();
          });
          label.append(box, el("span", "", word));
          return label;
        }),
      );
    };
    draw();
    const entry = doc.loras[index];
    if (entry) {
      void loadWords(entry).then(() => {
        // Drawn again only if this line is still the row's: a redraw meanwhile made a new one.
        if (!line.isConnected) return;
        draw();
        fitNode(this.node);
      });
    }
    return line;
  }

  private row(doc: LoraDocument, index: number, single: boolean): HTMLElement {
    const entry = doc.loras[index]!;
    const shown = displayName(entry);
    const row = el("div", `hikaze-row${entry.enabled ? "" : " hikaze-off"}`);
    row.dataset.testid = "hikaze-lora-row";
    const on = el("input", "hikaze-check");
    on.type = "checkbox";
    on.checked = entry.enabled;
    on.title = entry.enabled ? "On: applied" : "Off: skipped";
    on.dataset.testid = "hikaze-row-toggle";
    on.addEventListener("change", () => this.commit(setEnabled(this.doc ?? doc, index, on.checked)));
    const name = el("span", "hikaze-lora-name", shown);
    name.dataset.testid = "hikaze-lora-name";
    name.addEventListener("mouseenter", () => showCover(name, entry));
    name.addEventListener("mouseleave", hideCover);
    // A span, not a label: a click on the name must not flip the toggle.
    const cell = el("span", "hikaze-name");
    cell.append(on, name);
    row.append(cell);
    if (single) {
      const both = this.strength(doc, index, "both", entry.strength_model);
      if (entry.strength_clip !== entry.strength_model) {
        both.title += ` (clip is ${entry.strength_clip} now; a new value sets both)`;
      }
      row.append(both);
    } else {
      row.append(
        this.strength(doc, index, "model", entry.strength_model),
        this.strength(doc, index, "clip", entry.strength_clip),
      );
    }
    const actions = el("span", "hikaze-actions");
    const move = (by: -1 | 1) => () => this.commit(moveEntry(this.doc ?? doc, index, by));
    const up = button("▲", "Move up", "hikaze-move-up", move(-1), `Move ${shown} up`);
    const down = button("▼", "Move down", "hikaze-move-down", move(1), `Move ${shown} down`);
    up.disabled = index === 0;
    down.disabled = index === doc.loras.length - 1;
    actions.append(
      up,
      down,
      button("✕", "Remove from the list", "hikaze-remove", () => this.commit(removeEntry(this.doc ?? doc, index)),
        `Remove ${shown} from the list`),
    );
    row.append(actions);
    return row;
  }
}
