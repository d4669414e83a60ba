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
  graph?: { id?: string; getNodeById?: (id: number | string) => ComfyNode | null | undefined } | null;
  computeSize?: () => [number, number];
  setSize?: (size: [number, number]) => void;
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
  setup?: () => void | Promise<void>;
  beforeRegisterNodeDef?: (nodeType: Record<string, unknown>, nodeData: { name?: string }) => void;
  nodeCreated?: (node: ComfyNode) => void;
  loadedGraphNode?: (node: ComfyNode) => void;
}

export interface ComfyApp {
  registerExtension(extension: ComfyExtension): void;
  graph?: { setDirtyCanvas?: (foreground: boolean, background?: boolean) => void };
  extensionManager?: {
    setting?: { get?: (id: string) => unknown };
    registerSidebarTab?: (tab: SidebarTab) => void;
  };
  ui?: { settings?: { getSettingValue?: (id: string, fallback?: unknown) => unknown } };
  api?: { apiURL?: (route: string) => string };
}
