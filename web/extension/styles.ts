/** The extension's CSS, injected once: ComfyUI imports only `.js` files from a node pack, so there is no CSS file. */

// ComfyUI's palette variables, with fallbacks for its older themes.
const CSS = `
.hikaze-panel { box-sizing: border-box; display: flex; flex-direction: column; gap: 4px; padding: 2px;
  font: 12px/1.3 var(--font-inter, system-ui, sans-serif); color: var(--input-text, #ddd); overflow: auto; }
.hikaze-panel * { box-sizing: border-box; }
.hikaze-btn { background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd);
  border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 2px 8px; cursor: pointer; font: inherit; }
.hikaze-btn:hover:not(:disabled) { border-color: var(--descrip-text, #999); }
.hikaze-btn:disabled { opacity: .45; cursor: default; }
.hikaze-notice { display: flex; gap: 6px; align-items: flex-start; padding: 4px 6px; border-radius: 4px;
  background: rgba(200, 120, 0, .18); border: 1px solid rgba(230, 150, 0, .6); color: var(--input-text, #eee); }
.hikaze-notice[hidden], .hikaze-error[hidden], .hikaze-rows[hidden], .hikaze-btn[hidden] { display: none; }
.hikaze-notice span { flex: 1; }
.hikaze-error { padding: 4px 6px; border-radius: 4px; background: rgba(200, 40, 40, .2);
  border: 1px solid rgba(220, 60, 60, .7); white-space: pre-wrap; overflow-wrap: anywhere; }
.hikaze-rows { display: flex; flex-direction: column; gap: 2px; }
.hikaze-row { display: grid; grid-template-columns: minmax(60px, 1fr) 54px 54px 62px; gap: 4px; align-items: center;
  min-height: 24px; padding: 1px 4px; border-radius: 4px; background: var(--comfy-input-bg, #222); }
.hikaze-single .hikaze-row { grid-template-columns: minmax(60px, 1fr) 54px 62px; }
.hikaze-head { background: transparent; color: var(--descrip-text, #999); }
.hikaze-off .hikaze-lora-name, .hikaze-off .hikaze-strength { opacity: .45; }
.hikaze-name { display: flex; gap: 6px; align-items: center; min-width: 0; cursor: default; }
.hikaze-name > span, .hikaze-lora-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hikaze-check { margin: 0; accent-color: #4a9; cursor: pointer; }
.hikaze-col { text-align: center; }
.hikaze-strength { width: 100%; background: var(--comfy-menu-bg, #333); color: inherit; font: inherit;
  border: 1px solid var(--border-color, #555); border-radius: 3px; padding: 1px 2px; text-align: right; }
.hikaze-actions { display: flex; gap: 2px; justify-content: flex-end; }
.hikaze-actions .hikaze-btn { padding: 0 4px; font-size: 10px; line-height: 18px; }
.hikaze-words { display: flex; flex-wrap: wrap; gap: 2px 8px; padding: 0 4px 2px 26px; color: var(--descrip-text, #bbb); }
.hikaze-words[hidden] { display: none; }
.hikaze-word { display: inline-flex; gap: 3px; align-items: center; cursor: pointer; overflow-wrap: anywhere; }
.hikaze-word-off span { text-decoration: line-through; opacity: .6; }
.hikaze-words.hikaze-off { opacity: .45; }
.hikaze-empty { padding: 6px 4px; color: var(--descrip-text, #999); }
.hikaze-footer { display: flex; gap: 6px; align-items: center; }
.hikaze-spacer { flex: 1; }
.hikaze-mode { background: var(--comfy-input-bg, #222); color: inherit; border: 1px solid var(--border-color, #555);
  border-radius: 4px; font: inherit; max-width: 55%; }
.hikaze-current { padding: 4px 6px; border-radius: 4px; background: var(--comfy-input-bg, #222);
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hikaze-current.hikaze-error { white-space: normal; }
.hikaze-modal { position: fixed; inset: 0; z-index: 10000; display: flex; align-items: center; justify-content: center;
  background: rgba(0, 0, 0, .6); }
.hikaze-modal-dialog { display: flex; flex-direction: column; width: 92vw; height: 90vh; border-radius: 8px;
  overflow: hidden; background: var(--comfy-menu-bg, #202020); border: 1px solid var(--border-color, #555);
  box-shadow: 0 10px 40px rgba(0, 0, 0, .6); }
.hikaze-modal-bar { display: flex; align-items: center; justify-content: space-between; gap: 8px;
  padding: 6px 10px; color: var(--input-text, #ddd); font: 14px system-ui, sans-serif; }
.hikaze-modal-close { background: none; border: 0; color: inherit; font-size: 18px; cursor: pointer; padding: 0 6px; }
.hikaze-modal-frame { flex: 1; width: 100%; border: 0; background: #111; }
.hikaze-tip { position: fixed; z-index: 10001; max-width: 280px; padding: 6px; border-radius: 6px; pointer-events: none;
  background: var(--comfy-menu-bg, #202020); color: var(--input-text, #ddd); border: 1px solid var(--border-color, #555);
  font: 12px system-ui, sans-serif; box-shadow: 0 4px 16px rgba(0, 0, 0, .5); }
.hikaze-tip-path { color: var(--descrip-text, #999); overflow-wrap: anywhere; margin: 2px 0; }
.hikaze-tip img { display: block; max-width: 100%; max-height: 260px; margin-top: 4px; border-radius: 4px; }
.hikaze-check-dialog { width: min(760px, 94vw); height: auto; max-height: 88vh; }
.hikaze-check-body { flex: 1; min-height: 0; overflow: auto; padding: 0 12px 8px; color: var(--input-text, #ddd);
  font: 13px/1.4 system-ui, sans-serif; }
.hikaze-check-summary { font-weight: 600; }
.hikaze-check-group h3 { margin: 10px 0 4px; font-size: 13px; }
.hikaze-check-missing h3 { color: #f07070; }
.hikaze-check-elsewhere h3 { color: #e0b040; }
.hikaze-check-found h3 { color: #60c080; }
.hikaze-check-list { list-style: none; margin: 0; padding: 0; }
.hikaze-check-ref { padding: 6px 8px; margin-bottom: 4px; border-radius: 4px; background: var(--comfy-input-bg, #222);
  overflow-wrap: anywhere; }
.hikaze-check-head { display: flex; flex-wrap: wrap; gap: 2px 8px; align-items: baseline; }
.hikaze-check-says, .hikaze-check-name, .hikaze-check-hash { font-family: ui-monospace, monospace; font-size: 12px; }
.hikaze-check-use { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; margin-top: 2px; }
.hikaze-check-use .hikaze-mode { max-width: 100%; }
.hikaze-dim { color: var(--descrip-text, #999); }
.hikaze-check-footer { padding: 8px 12px; border-top: 1px solid var(--border-color, #555); flex-wrap: wrap;
  color: var(--input-text, #ddd); font: 13px system-ui, sans-serif; }
.hikaze-check-report { white-space: pre-wrap; }
.hikaze-sidebar { display: flex; flex-direction: column; gap: 8px; padding: 12px; }
`;

export function injectStyles(): void {
  if (document.getElementById("hikaze-model-manager-css")) return;
  const style = document.createElement("style");
  style.id = "hikaze-model-manager-css";
  style.textContent = CSS;
  document.head.append(style);
}
