/**
 * Hikaze Model Manager in ComfyUI: the panels of the two Hikaze loader nodes, the picker modal, the settings, and a
 * way to open the manager itself. Built into the single file ComfyUI imports from `web/comfyui/`.
 */
import { app } from "comfyui/app";
import { CheckpointPanel } from "./checkpointPanel";
import type { ComfyNode } from "./comfy";
import { autostartDaemon, checkDaemon } from "./daemon";
import { LoraPanel } from "./loraPanel";
import { SHOW_STRENGTHS, STRENGTH_MODES } from "./loraRows";
import { fitNode } from "./nodeSize";
import { payloadWidget } from "./payloadWidget";
import { openManagerTab } from "./pickerModal";
import { settingDefinitions } from "./settings";
import { renderSidebar } from "./sidebar";
import { injectStyles } from "./styles";
import { CHECK_COMMAND, CHECK_LABEL, checkThisWorkflow } from "./workflowCheck";

const CHECKPOINT = "HikazeCheckpointLoader";
const LORAS = "HikazeLoraPowerLoader";
const OPEN_COMMAND = "Hikaze.OpenManager";

const panels = new WeakMap<ComfyNode, LoraPanel | CheckpointPanel>();
const owners = new WeakMap<HTMLElement, ComfyNode>();
let started = false;
// About 8 lines of the payload text; the box scrolls past that, and the node grows to give it this much.
const PAYLOAD_MIN_PX = 140;

/** Where the front end keeps a node's DOM widgets: its graph and its id (known once the node is in a graph). */
function slotOf(node: ComfyNode): string | null {
  const id = node.id;
  if (id === undefined || id === null || id === -1 || id === "-1") return null;
  return `${node.graph?.id ?? ""}:${id}`;
}

function alive(node: ComfyNode | undefined): boolean {
  return !!node && node.id !== undefined && node.graph?.getNodeById?.(node.id) === node;
}

/**
 * Puts this node's panel where the panel of the node it replaced is still shown. An undo rebuilds every node
 * with the same ids; Nodes 2.0 finds a node's DOM widget by graph, node id and widget name and keeps the element
 * it mounted for the old node, so without this the old panel stays on screen and its clicks change a node that
 * is no longer in the graph.
 */
function claimSlot(node: ComfyNode, element: HTMLElement): void {
  const slot = slotOf(node);
  if (!slot) return;
  element.dataset.hikazeSlot = slot;
  for (const shown of document.querySelectorAll<HTMLElement>(`[data-hikaze-slot="${CSS.escape(slot)}"]`)) {
    if (shown !== element && !alive(owners.get(shown))) shown.replaceWith(element);
  }
}

function attach(node: ComfyNode): void {
  const kind = node.comfyClass ?? node.type;
  if ((kind !== LORAS && kind !== CHECKPOINT) || panels.has(node)) return;
  injectStyles();
  const panel = kind === LORAS ? new LoraPanel(node) : new CheckpointPanel(node);
  panels.set(node, panel);
  owners.set(panel.element, node);
  const onAdded = node.onAdded;
  node.onAdded = function (this: unknown, ...args: unknown[]) {
    const answer = onAdded?.apply(this, args);
    claimSlot(node, panel.element);
    return answer;
  };
  const payload = payloadWidget(node);
  if (payload) {
    // ComfyUI gives a multiline box about three lines beside our panel; the whole document should be readable.
    const options = (payload.options ??= {});
    const theirs = options.getMinHeight as (() => number) | undefined;
    options.getMinHeight = () => Math.max(theirs?.() ?? 0, PAYLOAD_MIN_PX);
  }
  // Not serialized: the payload widget is the node's only state, so saved workflows keep ComfyUI's widget order.
  const widget = node.addDOMWidget("hikaze_panel", "hikaze-panel", panel.element, {
    serialize: false,
    getValue: () => "",
    setValue: () => undefined,
    getMinHeight: () => panel.minHeight(),
  });
  widget.serialize = false;
  // ComfyUI sized the node before this widget existed.
  fitNode(node);
}

app.registerExtension({
  name: "Hikaze.ModelManager",
  settings: settingDefinitions(() => {
    if (started) void checkDaemon(true);
  }),
  commands: [
    { id: OPEN_COMMAND, label: "Hikaze Model Manager", icon: "pi pi-database", function: openManagerTab },
    { id: CHECK_COMMAND, label: CHECK_LABEL, icon: "pi pi-search", function: checkThisWorkflow },
  ],
  menuCommands: [{ path: ["Extensions"], commands: [OPEN_COMMAND, CHECK_COMMAND] }],
  // The canvas's right-click menu (front ends that ask extensions for items; others never call this).
  getCanvasMenuItems: () => [null, { content: CHECK_LABEL, callback: checkThisWorkflow }],

  setup() {
    started = true;
    injectStyles();
    app.extensionManager?.registerSidebarTab?.({
      id: "hikaze-model-manager",
      icon: "pi pi-database",
      title: "Hikaze",
      tooltip: "Hikaze Model Manager",
      type: "custom",
      render: renderSidebar,
    });
    void autostartDaemon();
  },

  beforeRegisterNodeDef(nodeType, nodeData) {
    // rgthree's convention: an `@<property>` entry makes the node's property panel offer a choice.
    if (nodeData.name === LORAS) nodeType[`@${SHOW_STRENGTHS}`] = { type: "combo", values: [...STRENGTH_MODES] };
  },

  nodeCreated(node) {
    attach(node);
  },

  loadedGraphNode(node) {
    attach(node);
    const panel = panels.get(node);
    if (panel) claimSlot(node, panel.element);
    panel?.refresh();
  },
});
