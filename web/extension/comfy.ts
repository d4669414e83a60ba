/**
 * The slice of ComfyUI's front end this extension touches, typed from its documented extension API. Everything
 * beyond `registerExtension` is optional: ComfyUI versions differ in what they offer.
 */

export interface ComfyWidget {
  name: string;
  type?: string;
  value: unknown;
  callback?: (value: unknown, ...rest: unknown[]) => void;
  /** DOM widgets (the multiline text of a STRING input) keep their element here; `inputEl` is its deprecated
   * alias (front end 1.2x warns when it is read). */
  element?: HTMLElement;
  inputEl?: HTMLElement;
  serialize?: boolean;
  options?: Record<string, unknown>;
}

export interface DOMWidgetOptions {
  getValue?: () => unknown;
  setValue?: (value: unknown) => void;
  getMinHeight?: () => number;
  serialize?: boolean;
}

export interface ComfyNode {
  id?: number | string;
  type?: string;
  comfyClass?: string;
  widgets?: ComfyWidget[];
  properties?: Record<string, unknown>;
  size?: [number, number];
  addDOMWidget(name: string, type: string, element: HTMLElement, options?: DOMWidgetOptions): ComfyWidget;
  onWidgetChanged?: (name: string, value: unknown, oldValue: unknown, widget: ComfyWidget) => void;
  onConfigure?: (...args: unknown[]) => unknown;
  onPropertyChanged?: (name: string, value: unknown, previous: unknown) => unknown;
  onRemoved?: (...args: unknown[]) => unknown;
  onAdded?: (...args: unknown[]) => unknown;
  /** The (sub)graph the node is in; absent before it is added. */
  graph?: ComfyGraph | null;
  /** A subgraph node's inner graph (front end 1.24+). */
  subgraph?: ComfyGraph | null;
  computeSize?: () => [number, number];
  setSize?: (size: [number, number]) => void;
}

/** A litegraph graph: the root one (`app.graph`) or a subgraph. */
export interface ComfyGraph {
  id?: string;
  getNodeById?: (id: number | string) => ComfyNode | null | undefined;
  /** The workflow as ComfyUI saves it (the UI format, subgraph definitions included). */
  serialize?: () => unknown;
  setDirtyCanvas?: (foreground: boolean, background?: boolean) => void;
  /** Litegraph's bracket around several changes, passed on to the canvases. */
  beforeChange?: () => void;
  afterChange?: () => void;
  change?: () => void;
}

/** The open workflow's undo history (front end 1.3+): changes between beforeChange and afterChange are one step. */
export interface ChangeTracker {
  beforeChange?: () => void;
  afterChange?: () => void;
}

export interface SettingDefinition {
  id: string;
  name: string;
  type: "text" | "boolean" | "combo";
  defaultValue: unknown;
  options?: string[];
  tooltip?: string;
  category?: string[];
  onChange?: (value: unknown, previous: unknown) => void;
}

export interface SidebarTab {
  id: string;
  icon: string;
  title: string;
  tooltip?: string;
  type: "custom";
  render: (element: HTMLElement) => void;
}

export interface ComfyExtension {
  name: string;
  settings?: SettingDefinition[];
  commands?: { id: string; label: string; icon?: string; function: () => void }[];
  menuCommands?: { path: string[]; commands: string[] }[];
  /** Items for the canvas's context menu; null is a separator. */
  getCanvasMenuItems?: (canvas: unknown) => ({ content: string; callback: () => void } | null)[];
  setup?: () => void | Promise<void>;
  beforeRegisterNodeDef?: (nodeType: Record<string, unknown>, nodeData: { name?: string }) => void;
  nodeCreated?: (node: ComfyNode) => void;
  loadedGraphNode?: (node: ComfyNode) => void;
}

export interface ComfyApp {
  registerExtension(extension: ComfyExtension): void;
  graph?: ComfyGraph;
  extensionManager?: {
    setting?: { get?: (id: string) => unknown };
    registerSidebarTab?: (tab: SidebarTab) => void;
    workflow?: { activeWorkflow?: { changeTracker?: ChangeTracker | null } | null };
  };
  ui?: { settings?: { getSettingValue?: (id: string, fallback?: unknown) => unknown } };
  api?: { apiURL?: (route: string) => string };
}
