/** The extension's ComfyUI settings and how they are read (the settings API moved between ComfyUI versions). */
import { app } from "comfyui/app";
import type { SettingDefinition } from "./comfy";
import { SEPARATE, STRENGTH_MODES, strengthMode, type StrengthMode } from "./loraRows";
import { DEFAULT_DAEMON_URL, normalizeDaemonUrl } from "../src/logic/pickProtocol";

export const DAEMON_URL = "Hikaze.DaemonURL";
export const AUTOSTART = "Hikaze.Autostart";
export const SHOW_STRENGTHS_DEFAULT = "Hikaze.ShowStrengths";

export function settingDefinitions(onDaemonChange: () => void): SettingDefinition[] {
  return [
    {
      id: DAEMON_URL,
      name: "Daemon URL (where the model manager runs)",
      type: "text",
      defaultValue: DEFAULT_DAEMON_URL,
      category: ["Hikaze", "Daemon", "URL"],
      tooltip: "The Python side reads HIKAZE_MM_URL; set both to the same address.",
      onChange: onDaemonChange,
    },
    {
      id: AUTOSTART,
      name: "Start the daemon with ComfyUI when none is running",
      type: "boolean",
      defaultValue: false,
      category: ["Hikaze", "Daemon", "Autostart"],
    },
    {
      id: SHOW_STRENGTHS_DEFAULT,
      name: "LoRA strengths on new Hikaze LoRA loaders (each node's “Show Strengths” property overrides it)",
      type: "combo",
      options: [...STRENGTH_MODES],
      defaultValue: SEPARATE,
      category: ["Hikaze", "LoRA loader", "Show Strengths"],
    },
  ];
}

function read(id: string): unknown {
  return app.extensionManager?.setting?.get?.(id) ?? app.ui?.settings?.getSettingValue?.(id);
}

export function daemonUrl(): string {
  return normalizeDaemonUrl(read(DAEMON_URL)) ?? DEFAULT_DAEMON_URL;
}

export function autostart(): boolean {
  return read(AUTOSTART) === true;
}

export function defaultStrengthMode(): StrengthMode {
  return strengthMode(read(SHOW_STRENGTHS_DEFAULT));
}
