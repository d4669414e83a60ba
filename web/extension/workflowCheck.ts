/**
 * The command "Check this workflow's models": the open graph sent to the daemon's workflow check (through the node
 * pack's route on ComfyUI's own server, as the daemon answers no other origin's scripts), the answer listed in a
 * dialog, and "Use the names found here" writing the names that resolve here into the widgets, as one undo step.
 */
import { app } from "comfyui/app";
import type { ReferenceStatus, WorkflowCheck, WorkflowReference } from "../src/api/types";
import { returnFocus, trapFocus } from "../src/logic/dialog";
import { groupReferences, referencePlace } from "../src/logic/workflowCheck";
import { comfyRoute } from "./daemon";
import { injectStyles } from "./styles";
import { applyRewrites, planRewrites, reportText, type RewriteReport } from "./workflowRewrite";

/** The command's id and label, as scripts/check-comfyui and a person looking in ComfyUI's menus find it. */
export const CHECK_COMMAND = "Hikaze.CheckWorkflowModels";
export const CHECK_LABEL = "Check this workflow's models";
export const CHECK_ROUTE = "/hikaze/workflows/check";

const HEADINGS: Record<ReferenceStatus, string> = {
  missing: "Missing",
  elsewhere: "Here under another name",
  found: "Found",
};
const MATCHED = { name: "same file name", sha256: "same content (SHA-256)", autov2: "same content (AutoV2)" };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text: string, testid: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", "hikaze-btn", text);
  b.type = "button";
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

/** The daemon's answer, or its error as it words it. */
export async function requestCheck(workflow: unknown): Promise<WorkflowCheck> {
  const url = comfyRoute(`${CHECK_ROUTE}?comfyui=${encodeURIComponent(window.location.origin)}`);
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ workflow }),
    });
  } catch (err) {
    throw new Error(`ComfyUI's server did not answer (${err instanceof Error ? err.message : String(err)})`, {
      cause: err,
    });
  }
  const body = (await response.json().catch(() => null)) as unknown;
  if (!response.ok) {
    const said = body && typeof body === "object" && "error" in body ? String(body.error) : "";
    throw new Error(said || `HTTP ${response.status}: is the Hikaze node pack up to date?`);
  }
  return body as WorkflowCheck;
}

function referenceRow(ref: WorkflowReference, picked: Map<WorkflowReference, string>): HTMLElement {
  const row = el("li", "hikaze-check-ref");
  row.dataset.testid = "hikaze-check-ref";
  row.dataset.node = ref.node_id;
  const head = el("div", "hikaze-check-head");
  head.append(el("strong", "", ref.node_type), el("span", "hikaze-dim", `${referencePlace(ref)} · ${ref.kind}`));
  const says = el("div", "hikaze-check-says", ref.name);
  says.title = "What the workflow says";
  row.append(head, says);
  const hashes = [ref.sha256 && `SHA-256 ${ref.sha256}`, ref.autov2 && `AutoV2 ${ref.autov2}`].filter(Boolean);
  if (hashes.length) row.append(el("div", "hikaze-dim hikaze-check-hash", hashes.join(" · ")));
  if (ref.status === "elsewhere" && ref.use) {
    const use = el("div", "hikaze-check-use");
    use.append(el("span", "", "→ "));
    if (ref.choices.length > 1) {
      // Several files here have this name; which one the workflow meant is the user's call.
      const select = el("select", "hikaze-mode");
      select.dataset.testid = "hikaze-check-choice";
      select.setAttribute("aria-label", `The file to use for ${ref.name}`);
      for (const choice of ref.choices) select.append(new Option(choice, choice, false, choice === ref.use));
      select.addEventListener("change", () => picked.set(ref, select.value));
      use.append(select);
    } else {
      use.append(el("span", "hikaze-check-name", ref.use));
    }
    if (ref.by) use.append(el("span", "hikaze-dim", ` (${MATCHED[ref.by]})`));
    row.append(use);
  }
  return row;
}

/** Every rewrite in one undo step: the open workflow's change tracker where the front end has one. */
function asOneChange(change: () => RewriteReport): RewriteReport {
  const tracker = app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
  const bracket = tracker?.beforeChange && tracker.afterChange ? tracker : app.graph;
  bracket?.beforeChange?.();
  try {
    return change();
  } finally {
    bracket?.afterChange?.();
    app.graph?.setDirtyCanvas?.(true, true);
    app.graph?.change?.();
  }
}

function renderAnswer(body: HTMLElement, footer: HTMLElement, answer: WorkflowCheck, recheck: () => void): void {
  const picked = new Map<WorkflowReference, string>();
  const { found, elsewhere, missing } = answer.counts;
  const summary = el("p", "hikaze-check-summary", `${found} found, ${elsewhere} elsewhere, ${missing} missing`);
  summary.dataset.testid = "hikaze-check-summary";
  body.replaceChildren(summary);
  if (!answer.references.length) body.append(el("p", "hikaze-dim", "The workflow refers to no model file."));
  for (const group of groupReferences(answer)) {
    const section = el("section", `hikaze-check-group hikaze-check-${group.status}`);
    section.dataset.testid = "hikaze-check-group";
    section.dataset.status = group.status;
    const list = el("ul", "hikaze-check-list");
    for (const ref of group.references) list.append(referenceRow(ref, picked));
    section.append(el("h3", "", `${HEADINGS[group.status]} (${answer.counts[group.status]})`), list);
    body.append(section);
  }

  const report = el("div", "hikaze-check-report");
  report.dataset.testid = "hikaze-check-report";
  report.setAttribute("role", "status");
  const apply = button("Use the names found here", "hikaze-check-apply", () => {
    const result = asOneChange(() => applyRewrites(app.graph, planRewrites(answer.references, picked)));
    report.textContent = reportText(result);
    apply.disabled = true;
  });
  apply.disabled = elsewhere === 0;
  apply.title = "Write the names that resolve here into the widgets of the entries found under another name";
  footer.replaceChildren(report, el("span", "hikaze-spacer"), button("Check again", "hikaze-check-again", recheck), apply);
}

let closeOpen: (() => void) | null = null;

export function checkThisWorkflow(): void {
  closeOpen?.();
  injectStyles();
  const opener = document.activeElement;
  const backdrop = el("div", "hikaze-modal");
  backdrop.dataset.testid = "hikaze-check-modal";
  const dialog = el("div", "hikaze-modal-dialog hikaze-check-dialog");
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-label", CHECK_LABEL);
  const bar = el("div", "hikaze-modal-bar");
  const close = button("✕", "hikaze-check-close", () => finish());
  close.className = "hikaze-modal-close";
  close.title = "Close (Esc)";
  close.setAttribute("aria-label", "Close");
  bar.append(el("strong", "", CHECK_LABEL), close);
  const body = el("div", "hikaze-check-body");
  const footer = el("div", "hikaze-footer hikaze-check-footer");
  dialog.append(bar, body, footer);
  backdrop.append(dialog);

  const releaseFocus = trapFocus(dialog, close);
  const onKey = (event: KeyboardEvent): void => {
    if (event.key !== "Escape") return;
    // ComfyUI has its own Escape bindings; this one belongs to the dialog.
    event.stopPropagation();
    event.preventDefault();
    finish();
  };
  function finish(): void {
    window.removeEventListener("keydown", onKey, true);
    releaseFocus();
    backdrop.remove();
    closeOpen = null;
    returnFocus(opener);
  }
  window.addEventListener("keydown", onKey, true);
  closeOpen = finish;
  document.body.append(backdrop);
  close.focus();

  const run = async (): Promise<void> => {
    footer.replaceChildren();
    const status = el("p", "hikaze-dim", "Checking the workflow's models…");
    status.setAttribute("role", "status");
    body.replaceChildren(status);
    try {
      const workflow = app.graph?.serialize?.();
      if (!workflow) throw new Error("this ComfyUI front end offers no way to read the open workflow");
      renderAnswer(body, footer, await requestCheck(workflow), () => void run());
    } catch (err) {
      const error = el("div", "hikaze-error", `The check failed: ${err instanceof Error ? err.message : String(err)}`);
      error.dataset.testid = "hikaze-check-error";
      error.setAttribute("role", "alert");
      body.replaceChildren(error);
      footer.replaceChildren(el("span", "hikaze-spacer"), button("Check again", "hikaze-check-again", () => void run()));
    }
  };
  void run();
}
