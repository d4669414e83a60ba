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
import { openManagerTab } from "./pickerModal";
import { settingDefinitions } from "./settings";
import { renderSidebar } from "./sidebar";
import { injectStyles } from "./styles";

const CHECKPOINT = "HikazeCheckpointLoader";
const LORAS = "HikazeLoraPowerLoader";
const OPEN_COMMAND = "Hikaze.OpenManager";

const panels = new WeakMap<ComfyNode, LoraPanel | CheckpointPanel>();
let started = false;

function attach(node: ComfyNode): void {
  const kind = node.comfyClass ?? node.type;
  if ((kind !== LORAS && kind !== CHECKPOINT) || panels.has(node)) return;
  injectStyles();
  const panel = kind === LORAS ? new LoraPanel(node) : new CheckpointPanel(node);
  panels.set(node, panel);
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
  commands: [{ id: OPEN_COMMAND, label: "Hikaze Model Manager", icon: "pi pi-database", function: openManagerTab }],
  menuCommands: [{ path: ["Extensions"], commands: [OPEN_COMMAND] }],

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
    panels.get(node)?.refresh();
  },
});
