import { app } from "../../scripts/app.js";
// src/logic/pickProtocol.ts
/**
* The conversation between the manager's picker page and the ComfyUI extension that opens it, shared by both so
* the two cannot drift: the picker's address, the message it answers with, the checkpoint answer, and the image
* addresses both load from the daemon. (The LoRA list document is in loraList.ts.)
*/
var DEFAULT_DAEMON_URL = "http://127.0.0.1:8789";
/** A model's id: the SHA-256 of its file, as the daemon writes it. */
var SHA256 = /^[0-9a-f]{64}$/;
function isSha256(value) {
	return typeof value === "string" && SHA256.test(value);
}
/** A model's cover at the daemon's address: an <img> on ComfyUI's origin loads it without CORS. */
function coverUrl(daemonUrl, sha256, tier) {
	return `${daemonUrl}/api/models/${sha256}/cover/${tier}`;
}
function isRecord$1(value) {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}
/** The daemon's base URL from the setting: scheme added when missing, no trailing slash; null when unusable. */
function normalizeDaemonUrl(raw) {
	const text = typeof raw === "string" ? raw.trim() : "";
	if (!text) return null;
	try {
		const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
		if (url.protocol !== "http:" && url.protocol !== "https:") return null;
		return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
	} catch {
		return null;
	}
}
function originOf(url) {
	try {
		return new URL(url).origin;
	} catch {
		return null;
	}
}
function encodeQueryValue(value) {
	return encodeURIComponent(value).replace(/%2F/g, "/").replace(/%3A/g, ":").replace(/%2C/g, ",");
}
/** The picker's address; the origin tells the page where its answer may go (it never posts to `*`). */
function pickerUrl(daemonUrl, kind, origin, payload) {
	let query = `pick=${kind}`;
	if (payload !== void 0) query += `&payload=${encodeQueryValue(payload)}`;
	return `${daemonUrl}/?${query}&origin=${encodeQueryValue(origin)}`;
}
/**
* A `message` event is the picker's answer only if it comes from the daemon's origin, from the frame we opened, and
* has the picker's shape; anything else (another frame, another site, another extension) is ignored.
*/
function pickAnswer(event, daemonOrigin, frame) {
	if (event.origin !== daemonOrigin || !frame || event.source !== frame) return null;
	const data = event.data;
	if (!isRecord$1(data) || data.type !== "hikaze-pick") return null;
	return { result: data.result ?? null };
}
/** A checkpoint picked in the manager, checked before it goes into the node. */
function checkpointFromPick(result) {
	if (!isRecord$1(result) || typeof result.ckpt_path !== "string" || !result.ckpt_path) throw new Error("the picker sent no checkpoint path");
	return {
		ckpt_path: result.ckpt_path,
		sha256: typeof result.sha256 === "string" ? result.sha256.toLowerCase() : "",
		name: typeof result.name === "string" ? result.name : ""
	};
}
/** What the checkpoint node shows: the picked model's name, else its file name; an empty path is no choice yet. */
function describeCheckpoint(text) {
	const raw = typeof text === "string" ? text.trim() : "";
	if (!raw) return {
		label: null,
		error: null
	};
	let data;
	try {
		data = JSON.parse(raw);
	} catch (err) {
		return {
			label: null,
			error: err instanceof Error ? err.message : String(err)
		};
	}
	if (!isRecord$1(data)) return {
		label: null,
		error: "the payload is not a JSON object"
	};
	if (data.ckpt_path !== void 0 && typeof data.ckpt_path !== "string") return {
		label: null,
		error: "`ckpt_path` is not a string"
	};
	const path = typeof data.ckpt_path === "string" ? data.ckpt_path : "";
	if (!path) return {
		label: null,
		error: null
	};
	return {
		label: typeof data.name === "string" && data.name ? data.name : path.split(/[\\/]/).pop() ?? path,
		error: null
	};
}
function writeCheckpoint(payload) {
	return JSON.stringify(payload, null, 2);
}
function isRecord(value) {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}
function num(value, fallback, where) {
	if (value === void 0 || value === null || value === "") return fallback;
	const n = typeof value === "string" ? Number(value) : value;
	if (typeof n !== "number" || !Number.isFinite(n)) throw new Error(`${where} is not a number`);
	return n;
}
function text$1(value) {
	return typeof value === "string" ? value : "";
}
/** Reads one entry in our shape or as an rgthree Power Lora Loader row (`on`, `lora`, `strength`, `strengthTwo`). */
function readEntry(raw, index) {
	const where = `LoRA ${index + 1}`;
	if (!isRecord(raw)) throw new Error(`${where} is not an object`);
	if ("lora" in raw && !("full_path" in raw) && !("name" in raw)) {
		const strength = num(raw.strength, 1, `${where} strength`);
		return {
			name: text$1(raw.lora),
			full_path: text$1(raw.lora),
			sha256: "",
			strength_model: strength,
			strength_clip: num(raw.strengthTwo, strength, `${where} strengthTwo`),
			enabled: raw.on !== false
		};
	}
	const entry = {
		name: text$1(raw.name),
		full_path: text$1(raw.full_path),
		sha256: text$1(raw.sha256).toLowerCase(),
		strength_model: num(raw.strength_model, 1, `${where} strength_model`),
		strength_clip: num(raw.strength_clip, 1, `${where} strength_clip`),
		enabled: raw.enabled !== false
	};
	const ticked = words(raw.trigger_words, `${where} trigger_words`);
	if (ticked) entry.trigger_words = ticked;
	return entry;
}
/** The ticked words as the node reads them (strings, trimmed, blanks dropped); null or absent means "all". */
function words(value, where) {
	if (value === void 0 || value === null) return null;
	if (!Array.isArray(value) || !value.every((word) => typeof word === "string")) throw new Error(`${where} is not a list of words`);
	return value.map((word) => word.trim()).filter(Boolean);
}
/** Parses the node's payload; an empty payload is an empty list. Throws with a message naming what is wrong. */
function parseLoraPayload(payload) {
	if (!payload || !payload.trim()) return {
		version: 2,
		loras: []
	};
	const data = JSON.parse(payload);
	let list;
	let version = 2;
	if (Array.isArray(data)) list = data;
	else if (isRecord(data)) {
		list = data.loras ?? data.LoRAs ?? data.LoRAList ?? [];
		if (typeof data.version === "number") version = data.version;
	} else throw new Error("the payload is neither a LoRA list document nor a list");
	if (!Array.isArray(list)) throw new Error("`loras` is not a list");
	return {
		version,
		loras: list.map(readEntry)
	};
}
/** The list with the item at `from` moved one place earlier or later; the same list when it cannot move. */
function moveAt(items, from, by) {
	const to = from + by;
	if (from < 0 || from >= items.length || to < 0 || to >= items.length) return items;
	const next = [...items];
	const [moved] = next.splice(from, 1);
	if (moved !== void 0) next.splice(to, 0, moved);
	return next;
}
// extension/loraRows.ts
/**
* What the LoRA loader node does to its list document: each row edit returns a new document, which the node writes
* back into its `hikaze_payload` widget. The parser is the picker's own, so the node and the picker read a payload
* the same way (aliases, rgthree rows, entries without sha256 kept).
*/
/** The two layouts of rgthree's "Show Strengths" node property, with its own wording. */
var SHOW_STRENGTHS = "Show Strengths";
var SEPARATE = "Separate Model & Clip";
var SINGLE = "Single Strength";
var STRENGTH_MODES = [SEPARATE, SINGLE];
function strengthMode(value, fallback = SEPARATE) {
	return value === "Single Strength" || value === "Separate Model & Clip" ? value : fallback;
}
function readDocument(text) {
	try {
		return {
			doc: parseLoraPayload(typeof text === "string" ? text : ""),
			error: null
		};
	} catch (err) {
		return {
			doc: null,
			error: err instanceof Error ? err.message : String(err)
		};
	}
}
function writeDocument(doc) {
	return JSON.stringify(doc, null, 2);
}
/** What the row shows: the entry's name, as the hover card and the picker do; without one, the file's name
* without folder and extension (a hand-written or an rgthree row). */
function displayName(entry) {
	const name = entry.name.trim();
	if (name && name !== entry.full_path) return name;
	return ((entry.full_path || name).split(/[\\/]/).pop() ?? "").replace(/\.[^.]+$/, "") || "(unnamed)";
}
function withEntry(doc, index, change) {
	const entry = doc.loras[index];
	if (!entry) return doc;
	const loras = [...doc.loras];
	loras[index] = change(entry);
	return {
		...doc,
		loras
	};
}
function setEnabled(doc, index, enabled) {
	return withEntry(doc, index, (entry) => ({
		...entry,
		enabled
	}));
}
function allEnabled(doc) {
	return doc.loras.length > 0 && doc.loras.every((entry) => entry.enabled);
}
/** rgthree's "Toggle All": everything on unless everything already is, then everything off. */
function toggleAll(doc) {
	const enabled = !allEnabled(doc);
	return {
		...doc,
		loras: doc.loras.map((entry) => ({
			...entry,
			enabled
		}))
	};
}
function moveEntry(doc, index, by) {
	const loras = moveAt(doc.loras, index, by);
	return loras === doc.loras ? doc : {
		...doc,
		loras
	};
}
function removeEntry(doc, index) {
	return {
		...doc,
		loras: doc.loras.filter((_, i) => i !== index)
	};
}
/** A typed strength; text that is not a finite number changes nothing (the input shows the old value again). */
function setStrength(doc, index, field, raw) {
	const value = Number(raw.trim());
	if (!raw.trim() || !Number.isFinite(value)) return doc;
	const clean = Math.round(value * 1e4) / 1e4;
	return withEntry(doc, index, (entry) => ({
		...entry,
		strength_model: field === "clip" ? entry.strength_model : clean,
		strength_clip: field === "model" ? entry.strength_clip : clean
	}));
}
/** The row's words: the LoRA's own (`known`, from the daemon; null while unknown), then any ticked word the daemon
* no longer lists, so that it can still be unticked. */
function rowWords(entry, known) {
	const words = [...known ?? []];
	for (const word of entry.trigger_words ?? []) if (!words.includes(word)) words.push(word);
	return words;
}
function wordToggles(entry, known) {
	const ticked = entry.trigger_words;
	return rowWords(entry, known).map((word) => ({
		word,
		on: ticked === void 0 || ticked.includes(word)
	}));
}
/**
* Ticks or unticks one word. The entry keeps the ticked words in the row's order; with every word of the LoRA
* ticked the field goes, so the node outputs all of its words again, also those added in the manager later.
*/
function setWord(doc, index, word, on, known) {
	return withEntry(doc, index, (entry) => {
		const words = rowWords(entry, known);
		const ticked = new Set(entry.trigger_words ?? words);
		if (on) ticked.add(word);
		else ticked.delete(word);
		const { trigger_words: _old, ...rest } = entry;
		const next = words.filter((w) => ticked.has(w));
		return known !== null && next.length === known.length && known.every((w) => ticked.has(w)) ? rest : {
			...rest,
			trigger_words: next
		};
	});
}
function sameLora(a, b) {
	if (a.sha256 || b.sha256) return a.sha256 === b.sha256;
	return a.full_path === b.full_path && a.name === b.name;
}
/**
* The picker's answer is the new list (its order, its members, its refreshed paths); an entry the node already
* has keeps the node's strengths, on/off state and ticked words, so a round trip through the picker never resets
* them.
*/
function mergePicked(current, picked) {
	const result = parseLoraPayload(JSON.stringify(picked));
	const previous = current?.loras ?? [];
	const loras = result.loras.map((entry) => {
		const old = previous.find((candidate) => sameLora(candidate, entry));
		if (!old) return entry;
		const { trigger_words: _picked, ...rest } = entry;
		const kept = {
			...rest,
			strength_model: old.strength_model,
			strength_clip: old.strength_clip,
			enabled: old.enabled
		};
		return old.trigger_words ? {
			...kept,
			trigger_words: old.trigger_words
		} : kept;
	});
	return {
		version: result.version,
		loras
	};
}
// extension/settings.ts
/** The extension's ComfyUI settings and how they are read (the settings API moved between ComfyUI versions). */
var DAEMON_URL = "Hikaze.DaemonURL";
var AUTOSTART = "Hikaze.Autostart";
var SHOW_STRENGTHS_DEFAULT = "Hikaze.ShowStrengths";
function settingDefinitions(onDaemonChange) {
	return [
		{
			id: DAEMON_URL,
			name: "Daemon URL (where the model manager runs)",
			type: "text",
			defaultValue: DEFAULT_DAEMON_URL,
			category: [
				"Hikaze",
				"Daemon",
				"URL"
			],
			tooltip: "The Python side reads HIKAZE_MM_URL; set both to the same address.",
			onChange: onDaemonChange
		},
		{
			id: AUTOSTART,
			name: "Start the daemon with ComfyUI when none is running",
			type: "boolean",
			defaultValue: false,
			category: [
				"Hikaze",
				"Daemon",
				"Autostart"
			]
		},
		{
			id: SHOW_STRENGTHS_DEFAULT,
			name: "LoRA strengths on new Hikaze LoRA loaders (each node's “Show Strengths” property overrides it)",
			type: "combo",
			options: [...STRENGTH_MODES],
			defaultValue: SEPARATE,
			category: [
				"Hikaze",
				"LoRA loader",
				"Show Strengths"
			]
		}
	];
}
function read(id) {
	return app.extensionManager?.setting?.get?.(id) ?? app.ui?.settings?.getSettingValue?.(id);
}
function daemonUrl() {
	return normalizeDaemonUrl(read("Hikaze.DaemonURL")) ?? "http://127.0.0.1:8789";
}
function autostart() {
	return read(AUTOSTART) === true;
}
function defaultStrengthMode() {
	return strengthMode(read(SHOW_STRENGTHS_DEFAULT));
}
// extension/daemon.ts
/**
* Is the manager daemon up? ComfyUI's own server answers `GET /hikaze/daemon` (same origin, so no CORS); where that
* route is missing, or it speaks of another address than the front end's setting, the browser knocks on the
* daemon's `/api/health` itself.
*/
var listeners = /* @__PURE__ */ new Set();
var status = {
	url: daemonUrl(),
	reachable: null,
	version: "",
	note: ""
};
var running = null;
var checkedAt = 0;
var FRESH_MS$1 = 1e4;
/** A route of ComfyUI's own server (the node pack's `/hikaze/...`), under the prefix the front end uses. */
function comfyRoute(route) {
	return app.api?.apiURL?.(route) ?? route;
}
function publish(next) {
	status = next;
	for (const listener of listeners) listener(status);
	return status;
}
function onStatus(listener) {
	listeners.add(listener);
	listener(status);
	return () => listeners.delete(listener);
}
async function fromComfy(url) {
	try {
		const response = await fetch(comfyRoute("/hikaze/daemon"), { cache: "no-store" });
		if (!response.ok) return null;
		const body = await response.json();
		if (typeof body !== "object" || body === null) return null;
		const { url: serverUrl, reachable, version } = body;
		if (typeof serverUrl !== "string" || originOf(serverUrl) !== originOf(url)) return null;
		return {
			url,
			reachable: reachable === true,
			version: typeof version === "string" ? version : "",
			note: ""
		};
	} catch {
		return null;
	}
}
async function fromBrowser(url) {
	try {
		await fetch(`${url}/api/health`, {
			mode: "no-cors",
			cache: "no-store"
		});
		return {
			url,
			reachable: true,
			version: "",
			note: ""
		};
	} catch {
		return {
			url,
			reachable: false,
			version: "",
			note: ""
		};
	}
}
function checkDaemon(fresh = false) {
	const url = daemonUrl();
	if (url !== status.url) publish({
		url,
		reachable: null,
		version: "",
		note: ""
	});
	else if (!fresh && status.reachable !== null && Date.now() - checkedAt < FRESH_MS$1) return Promise.resolve(status);
	if (running) return running;
	running = (async () => {
		const next = await fromComfy(url) ?? await fromBrowser(url);
		checkedAt = Date.now();
		running = null;
		return publish({
			...next,
			note: next.reachable ? "" : status.note
		});
	})();
	return running;
}
/** With the Autostart setting on, asks ComfyUI's server to start the daemon, then waits for it to answer. */
async function autostartDaemon() {
	if (!autostart() || (await checkDaemon(true)).reachable) return;
	let reason = "";
	try {
		const response = await fetch(comfyRoute("/hikaze/daemon/start"), { method: "POST" });
		const body = await response.json().catch(() => ({}));
		if (body.started !== true) reason = typeof body.reason === "string" ? body.reason : `HTTP ${response.status}`;
	} catch (err) {
		reason = err instanceof Error ? err.message : String(err);
	}
	if (reason) {
		publish({
			...status,
			note: `Autostart failed: ${reason}`
		});
		return;
	}
	publish({
		...status,
		note: "Starting the daemon…"
	});
	for (let attempt = 0; attempt < 60; attempt++) {
		await new Promise((resolve) => setTimeout(resolve, 1e3));
		if ((await checkDaemon(true)).reachable) return;
	}
	publish({
		...status,
		note: "Autostart: the daemon did not answer within a minute; see ComfyUI's log."
	});
}
// extension/daemonNotice.ts
function describe(status) {
	if (status.reachable !== false) return status.note;
	const hint = status.note || "Start it (hikaze-mm serve) or turn on Settings › Hikaze › Autostart.";
	return `The model manager at ${status.url} is not reachable, so models cannot be picked. ${hint} The payload text can still be edited; the node loads the saved paths without the daemon.`;
}
function daemonNotice(node, changed) {
	const box = document.createElement("div");
	box.className = "hikaze-notice";
	box.dataset.testid = "hikaze-daemon-status";
	const text = document.createElement("span");
	const retry = document.createElement("button");
	retry.type = "button";
	retry.textContent = "Retry";
	retry.addEventListener("click", () => void checkDaemon(true));
	box.append(text, retry);
	const stop = onStatus((status) => {
		const message = describe(status);
		const wasHidden = box.hidden;
		box.hidden = !message;
		retry.hidden = status.reachable !== false;
		text.textContent = message;
		if (wasHidden !== box.hidden) changed();
	});
	const onRemoved = node.onRemoved;
	node.onRemoved = function(...args) {
		stop();
		return onRemoved?.apply(this, args);
	};
	checkDaemon();
	return box;
}
// extension/payloadWidget.ts
/** Reading, writing and watching a node's `hikaze_payload` text widget, the one place the node's state lives. */
var PAYLOAD = "hikaze_payload";
function payloadWidget(node) {
	return node.widgets?.find((widget) => widget.name === PAYLOAD);
}
function payloadText(node) {
	const value = payloadWidget(node)?.value;
	return typeof value === "string" ? value : "";
}
/**
* Writes the payload the way a user's edit would: the value, the widget's callback, the node's change hook, and a
* dirty canvas, so ComfyUI saves it with the workflow and marks the workflow modified.
*/
function writePayload(node, text) {
	const widget = payloadWidget(node);
	if (!widget) return;
	const old = widget.value;
	widget.value = text;
	widget.callback?.(text);
	node.onWidgetChanged?.(widget.name, text, old, widget);
	app.graph?.setDirtyCanvas?.(true, true);
}
/**
* Calls `changed` whenever the payload may have changed behind our back: a hand edit in the text box (the DOM
* `input` event, or the callback ComfyUI's Vue widgets fire), a workflow being loaded into the node.
*/
function watchPayload(node, changed) {
	const widget = payloadWidget(node);
	if (widget) {
		const callback = widget.callback;
		widget.callback = function(...args) {
			const answer = callback?.apply(this, args);
			changed();
			return answer;
		};
		const box = widget.element ?? widget.inputEl;
		box?.addEventListener("input", changed);
		box?.addEventListener("change", changed);
	}
	const onConfigure = node.onConfigure;
	node.onConfigure = function(...args) {
		const answer = onConfigure?.apply(this, args);
		changed();
		return answer;
	};
}
function markChanged() {
	app.graph?.setDirtyCanvas?.(true, true);
}
// extension/nodeSize.ts
function fitNode(node) {
	const wanted = node.computeSize?.();
	if (wanted && node.size && node.setSize && node.size[1] < wanted[1]) node.setSize([node.size[0], wanted[1]]);
	markChanged();
}
// src/logic/dialog.ts
/** Gives focus back to `opener` (what had it when a dialog or menu opened) if it is still on the page. */
function returnFocus(opener) {
	if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
}
/**
* For a modal that is not a <dialog> (the extension's, over ComfyUI's page): focus that leaves `container` (Tab
* past its last control, also out of an iframe in it, whose keys the page never sees) goes back to `home`.
* Returns the function that ends the trap.
*/
function trapFocus(container, home) {
	const onFocus = (event) => {
		if (event.target instanceof Node && !container.contains(event.target)) home.focus();
	};
	document.addEventListener("focusin", onFocus);
	return () => document.removeEventListener("focusin", onFocus);
}
// extension/pickerModal.ts
/**
* The manager's picker in a modal over ComfyUI: an iframe of the daemon's page in picker mode, answered by
* `postMessage`. Closing it (✕, Esc, the picker's own Cancel) answers null. Focus stays inside while it is open
* and goes back to the button that opened it.
*/
var closeOpen$1 = null;
/** Answers null at once when the daemon is down: the node's notice says so, and a dead frame would not. */
async function openPicker(kind, title, payload) {
	closeOpen$1?.();
	const opener = document.activeElement;
	if ((await checkDaemon(true)).reachable === false) return null;
	const base = daemonUrl();
	const daemonOrigin = originOf(base) ?? "";
	const backdrop = document.createElement("div");
	backdrop.className = "hikaze-modal";
	backdrop.dataset.testid = "hikaze-picker-modal";
	const dialog = document.createElement("div");
	dialog.className = "hikaze-modal-dialog";
	dialog.setAttribute("role", "dialog");
	dialog.setAttribute("aria-modal", "true");
	dialog.setAttribute("aria-label", title);
	const bar = document.createElement("div");
	bar.className = "hikaze-modal-bar";
	const heading = document.createElement("strong");
	heading.textContent = title;
	const close = document.createElement("button");
	close.type = "button";
	close.className = "hikaze-modal-close";
	close.textContent = "✕";
	close.title = "Close without picking (Esc)";
	close.setAttribute("aria-label", "Close without picking");
	close.dataset.testid = "hikaze-picker-close";
	bar.append(heading, close);
	const frame = document.createElement("iframe");
	frame.className = "hikaze-modal-frame";
	frame.dataset.testid = "hikaze-picker-frame";
	frame.title = title;
	frame.src = pickerUrl(base, kind, window.location.origin, payload);
	dialog.append(bar, frame);
	backdrop.append(dialog);
	return new Promise((resolve) => {
		const releaseFocus = trapFocus(dialog, close);
		const finish = (result) => {
			window.removeEventListener("message", onMessage);
			window.removeEventListener("keydown", onKey, true);
			releaseFocus();
			backdrop.remove();
			closeOpen$1 = null;
			returnFocus(opener);
			resolve(result);
		};
		const onMessage = (event) => {
			const answer = pickAnswer(event, daemonOrigin, frame.contentWindow);
			if (answer) finish(answer.result);
		};
		const onKey = (event) => {
			if (event.key !== "Escape") return;
			event.stopPropagation();
			event.preventDefault();
			finish(null);
		};
		window.addEventListener("message", onMessage);
		window.addEventListener("keydown", onKey, true);
		close.addEventListener("click", () => finish(null));
		frame.addEventListener("load", () => frame.focus());
		closeOpen$1 = () => finish(null);
		document.body.append(backdrop);
	});
}
function openManagerTab() {
	window.open(`${daemonUrl()}/`, "_blank", "noopener");
}
// extension/checkpointPanel.ts
var CheckpointPanel = class {
	node;
	element = document.createElement("div");
	notice;
	current = document.createElement("div");
	pickButton = document.createElement("button");
	constructor(node) {
		this.node = node;
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
	minHeight() {
		return 76 + (this.notice.hidden ? 0 : 64);
	}
	refresh() {
		this.sync();
	}
	sync() {
		const { label, error } = describeCheckpoint(payloadText(this.node));
		this.current.classList.toggle("hikaze-error", error !== null);
		this.current.textContent = error !== null ? `The payload is not valid JSON (${error}); fix the text or pick again.` : label ?? "(no checkpoint picked)";
		this.current.title = this.current.textContent;
	}
	async pick() {
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
};
// extension/coverTooltip.ts
/** The tooltip on a LoRA's name: its name and path, and its cover image, which the daemon serves by model at a URL
* an <img> can load from ComfyUI's origin (no JSON, so no CORS needed). */
var tip = null;
function element() {
	if (!tip) {
		tip = document.createElement("div");
		tip.className = "hikaze-tip";
		tip.dataset.testid = "hikaze-cover-tip";
	}
	return tip;
}
function showCover(anchor, entry) {
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
	img.addEventListener("error", () => img.remove());
	img.src = coverUrl(daemonUrl(), entry.sha256, "low");
	box.append(img);
}
function hideCover() {
	tip?.remove();
}
// extension/loraWords.ts
/**
* A LoRA's trigger words for the toggles of its row. ComfyUI's server answers (same origin: the daemon sends no CORS
* headers) by asking the daemon, by the entry's sha256 or else by the file the node would load. Rows ask when they
* are drawn, which is often, so an answer is kept for a while.
*/
var FRESH_MS = 3e4;
var answers = /* @__PURE__ */ new Map();
function query(entry) {
	if (isSha256(entry.sha256)) return `sha256=${entry.sha256}`;
	const path = entry.full_path || entry.name;
	return path ? `path=${encodeURIComponent(path)}` : null;
}
async function ask(q) {
	try {
		const response = await fetch(comfyRoute(`/hikaze/lora/trigger-words?${q}`), { cache: "no-store" });
		if (!response.ok) return null;
		const body = await response.json();
		if (body.reachable !== true || !Array.isArray(body.words)) return null;
		return body.words.filter((word) => typeof word === "string");
	} catch {
		return null;
	}
}
/** The words last heard for the entry's LoRA; null when none were heard. */
function knownWords(entry) {
	const q = query(entry);
	return q ? answers.get(q)?.words ?? null : null;
}
/** Asks again unless a fresh answer is kept; resolves to the words, or null when they cannot be known. */
function loadWords(entry) {
	const q = query(entry);
	if (!q) return Promise.resolve(null);
	const kept = answers.get(q);
	if (kept?.pending) return kept.pending;
	if (kept && Date.now() - kept.at < FRESH_MS) return Promise.resolve(kept.words);
	const pending = ask(q).then((words) => {
		answers.set(q, {
			at: Date.now(),
			words: words ?? kept?.words ?? null,
			pending: null
		});
		return words;
	});
	answers.set(q, {
		at: kept?.at ?? 0,
		words: kept?.words ?? null,
		pending
	});
	return pending;
}
// extension/loraPanel.ts
var ROW_PX = 26;
var WORDS_PX = 20;
function el$1(tag, className, text) {
	const node = document.createElement(tag);
	node.className = className;
	if (text !== void 0) node.textContent = text;
	return node;
}
/** A button; one that shows a symbol (▲ ▼ ✕) is named by `label`, as a screen reader cannot read the symbol. */
function button$1(text, title, testid, onClick, label) {
	const b = el$1("button", "hikaze-btn", text);
	b.type = "button";
	b.title = title;
	if (label !== void 0) b.setAttribute("aria-label", label);
	b.dataset.testid = testid;
	b.addEventListener("click", onClick);
	return b;
}
var LoraPanel = class {
	node;
	element = el$1("div", "hikaze-panel hikaze-loras");
	notice;
	error = el$1("div", "hikaze-error");
	list = el$1("div", "hikaze-rows");
	add;
	mode = el$1("select", "hikaze-mode");
	doc = null;
	shown = null;
	constructor(node) {
		this.node = node;
		node.properties ??= {};
		node.properties[SHOW_STRENGTHS] = strengthMode(node.properties[SHOW_STRENGTHS], defaultStrengthMode());
		this.notice = daemonNotice(node, () => fitNode(node));
		this.error.dataset.testid = "hikaze-payload-error";
		this.error.setAttribute("role", "alert");
		this.list.dataset.testid = "hikaze-lora-list";
		this.add = button$1("+ Add LoRAs", "Pick LoRAs in the model manager", "hikaze-add-loras", () => void this.pick());
		for (const value of STRENGTH_MODES) this.mode.append(new Option(value, value));
		this.mode.title = SHOW_STRENGTHS;
		this.mode.dataset.testid = "hikaze-strength-mode";
		this.mode.addEventListener("change", () => {
			(node.properties ??= {})[SHOW_STRENGTHS] = strengthMode(this.mode.value);
			markChanged();
			this.render();
		});
		const footer = el$1("div", "hikaze-footer");
		footer.append(this.add, el$1("span", "hikaze-spacer"), this.mode);
		this.element.append(this.notice, this.error, this.list, footer);
		const onPropertyChanged = node.onPropertyChanged;
		node.onPropertyChanged = (name, value, previous) => {
			const answer = onPropertyChanged?.call(node, name, value, previous);
			if (name === "Show Strengths") queueMicrotask(() => this.render());
			return answer;
		};
		watchPayload(node, () => this.sync());
		this.sync();
	}
	/** Rows for ComfyUI's layout: the list grows the node instead of scrolling inside it. */
	minHeight() {
		const rows = this.doc ? Math.max(1, this.doc.loras.length) + 1 : 0;
		const extra = (this.notice.hidden ? 0 : 64) + (this.error.hidden ? 0 : 48);
		let words = 0;
		for (const line of this.list.querySelectorAll(".hikaze-words:not([hidden])")) words += Math.max(line.offsetHeight, WORDS_PX) + 2;
		return 12 + rows * ROW_PX + words + 32 + extra;
	}
	/** After a workflow loaded into the node: its text, whatever we showed before. */
	refresh() {
		this.sync(true);
	}
	/** Re-reads the payload unless it is the text we wrote last (so typing in a row keeps its focus). */
	sync(force = false) {
		const text = payloadText(this.node);
		if (!force && text === this.shown) return;
		this.shown = text;
		const parsed = readDocument(text);
		this.doc = parsed.doc;
		this.error.hidden = parsed.error === null;
		this.error.textContent = parsed.error === null ? "" : `The payload is not a LoRA list (${parsed.error}). Fix the text below; the list comes back when it parses.`;
		this.render();
	}
	commit(doc, rerender = true) {
		this.doc = doc;
		const text = writeDocument(doc);
		this.shown = text;
		writePayload(this.node, text);
		if (rerender) this.render();
	}
	async pick() {
		if (!this.doc) return;
		const result = await openPicker("loras", "Pick LoRAs", JSON.stringify(this.doc));
		if (result === null) return;
		this.sync();
		try {
			this.commit(mergePicked(this.doc, result));
		} catch (err) {
			this.error.hidden = false;
			this.error.textContent = `The picker's answer was not a LoRA list: ${err instanceof Error ? err.message : err}`;
		}
	}
	render() {
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
			if (!doc.loras.length) this.list.append(el$1("div", "hikaze-empty", "No LoRAs yet: “+ Add LoRAs” picks some."));
			doc.loras.forEach((_, index) => this.list.append(this.row(doc, index, single), this.words(doc, index)));
		}
		fitNode(this.node);
	}
	header(doc, single) {
		const head = el$1("div", "hikaze-row hikaze-head");
		const all = el$1("input", "hikaze-check");
		all.type = "checkbox";
		all.checked = allEnabled(doc);
		all.indeterminate = !all.checked && doc.loras.some((entry) => entry.enabled);
		all.disabled = !doc.loras.length;
		all.dataset.testid = "hikaze-toggle-all";
		all.addEventListener("change", () => this.commit(toggleAll(doc)));
		const label = el$1("label", "hikaze-name", "Toggle all");
		label.prepend(all);
		head.append(label);
		if (single) head.append(el$1("span", "hikaze-col", "strength"));
		else head.append(el$1("span", "hikaze-col", "model"), el$1("span", "hikaze-col", "clip"));
		head.append(el$1("span", "hikaze-actions"));
		return head;
	}
	strength(doc, index, field, value) {
		const input = el$1("input", "hikaze-strength");
		input.type = "number";
		input.step = "0.05";
		input.value = String(value);
		input.dataset.testid = field === "both" ? "hikaze-strength" : `hikaze-strength-${field}`;
		input.title = field === "both" ? "Strength (model and clip)" : `Strength ${field}`;
		input.addEventListener("change", () => {
			const next = setStrength(this.doc ?? doc, index, field, input.value);
			if (next === (this.doc ?? doc)) input.value = String(value);
			else this.commit(next, false);
		});
		return input;
	}
	/** The row's trigger words as toggles; an unticked word is left out of the node's `trigger_words` output. */
	words(doc, index) {
		const line = el$1("div", "hikaze-words");
		line.dataset.testid = "hikaze-trigger-words";
		const draw = () => {
			const entry = this.doc?.loras[index];
			const toggles = entry ? wordToggles(entry, knownWords(entry)) : [];
			line.hidden = !toggles.length;
			line.classList.toggle("hikaze-off", entry?.enabled === false);
			line.replaceChildren(...toggles.map(({ word, on }) => {
				const label = el$1("label", `hikaze-word${on ? "" : " hikaze-word-off"}`);
				label.dataset.testid = "hikaze-trigger-word";
				label.title = on ? "Ticked: in the trigger_words output" : "Unticked: left out of the trigger_words output";
				const box = el$1("input", "hikaze-check");
				box.type = "checkbox";
				box.checked = on;
				box.addEventListener("change", () => {
					const current = this.doc?.loras[index];
					if (!current) return;
					this.commit(setWord(this.doc, index, word, box.checked, knownWords(current)), false);
					draw();
					line.querySelectorAll("input")[toggles.findIndex((t) => t.word === word)]?.focus();
				});
				label.append(box, el$1("span", "", word));
				return label;
			}));
		};
		draw();
		const entry = doc.loras[index];
		if (entry) loadWords(entry).then(() => {
			if (!line.isConnected) return;
			draw();
			fitNode(this.node);
		});
		return line;
	}
	row(doc, index, single) {
		const entry = doc.loras[index];
		const shown = displayName(entry);
		const row = el$1("div", `hikaze-row${entry.enabled ? "" : " hikaze-off"}`);
		row.dataset.testid = "hikaze-lora-row";
		const on = el$1("input", "hikaze-check");
		on.type = "checkbox";
		on.checked = entry.enabled;
		on.title = entry.enabled ? "On: applied" : "Off: skipped";
		on.dataset.testid = "hikaze-row-toggle";
		on.addEventListener("change", () => this.commit(setEnabled(this.doc ?? doc, index, on.checked)));
		const name = el$1("span", "hikaze-lora-name", shown);
		name.dataset.testid = "hikaze-lora-name";
		name.addEventListener("mouseenter", () => showCover(name, entry));
		name.addEventListener("mouseleave", hideCover);
		const cell = el$1("span", "hikaze-name");
		cell.append(on, name);
		row.append(cell);
		if (single) {
			const both = this.strength(doc, index, "both", entry.strength_model);
			if (entry.strength_clip !== entry.strength_model) both.title += ` (clip is ${entry.strength_clip} now; a new value sets both)`;
			row.append(both);
		} else row.append(this.strength(doc, index, "model", entry.strength_model), this.strength(doc, index, "clip", entry.strength_clip));
		const actions = el$1("span", "hikaze-actions");
		const move = (by) => () => this.commit(moveEntry(this.doc ?? doc, index, by));
		const up = button$1("▲", "Move up", "hikaze-move-up", move(-1), `Move ${shown} up`);
		const down = button$1("▼", "Move down", "hikaze-move-down", move(1), `Move ${shown} down`);
		up.disabled = index === 0;
		down.disabled = index === doc.loras.length - 1;
		actions.append(up, down, button$1("✕", "Remove from the list", "hikaze-remove", () => this.commit(removeEntry(this.doc ?? doc, index)), `Remove ${shown} from the list`));
		row.append(actions);
		return row;
	}
};
// extension/sidebar.ts
/** The sidebar tab: where the manager runs, whether it answers, and the way to open it. */
var unsubscribe = null;
function renderSidebar(host) {
	const box = document.createElement("div");
	box.className = "hikaze-panel hikaze-sidebar";
	const title = document.createElement("strong");
	title.textContent = "Hikaze Model Manager";
	const state = document.createElement("div");
	const open = document.createElement("button");
	open.type = "button";
	open.className = "hikaze-btn";
	open.textContent = "Open the manager in a new tab";
	open.addEventListener("click", openManagerTab);
	box.append(title, state, open);
	host.replaceChildren(box);
	unsubscribe?.();
	unsubscribe = onStatus((status) => {
		const answer = status.reachable === null ? "checking…" : status.reachable ? "running" : "not reachable";
		state.textContent = `${status.url}: ${answer}${status.version ? ` (version ${status.version})` : ""}`;
	});
	checkDaemon(true);
}
// extension/styles.ts
/** The extension's CSS, injected once: ComfyUI imports only `.js` files from a node pack, so there is no CSS file. */
var CSS$1 = `
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
function injectStyles() {
	if (document.getElementById("hikaze-model-manager-css")) return;
	const style = document.createElement("style");
	style.id = "hikaze-model-manager-css";
	style.textContent = CSS$1;
	document.head.append(style);
}
// src/logic/workflowCheck.ts
/** What needs the user first: missing, then what can be fixed, then what is fine. */
var GROUP_ORDER = [
	"missing",
	"elsewhere",
	"found"
];
/** The answer's references by status, in GROUP_ORDER, each group in the daemon's order; empty groups left out. */
function groupReferences(answer) {
	return GROUP_ORDER.map((status) => ({
		status,
		references: answer.references.filter((ref) => ref.status === status)
	})).filter((group) => group.references.length > 0);
}
/** Where the reference sits: "#12 · lora_name", "#5:12 · hikaze_payload #2". */
function referencePlace(ref) {
	return `#${ref.node_id} · ${ref.widget}${ref.entry !== null ? ` #${ref.entry}` : ""}`;
}
// extension/loraText.ts
/**
* The LoRA loader's `lora_text`, read as the node reads it (nodes/lora_text.py): `<lora:name>`, `<lora:name:0.8>` or
* `<lora:name:0.8:0.5>` entries in any text. Only what the node would accept is read here; a rewrite of a text the
* node would refuse could not be checked against what the node loads, so such a text is reported unreadable.
*/
var OPEN = /<lora:/gi;
var OPEN_LENGTH = 6;
var DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
function readableStrength(raw) {
	const trimmed = raw.trim();
	return DECIMAL.test(trimmed) && Number.isFinite(Number(trimmed));
}
/** Every entry in text order, or the first one the node would refuse (as written, for the report). */
function readLoraText(text) {
	const starts = [...text.matchAll(OPEN)].map((m) => m.index);
	const entries = [];
	for (const [i, start] of starts.entries()) {
		const following = starts[i + 1] ?? text.length;
		const end = text.indexOf(">", start);
		if (end < 0 || end >= following) return { unreadable: text.slice(start, following).trimEnd() };
		const written = text.slice(start, end + 1);
		const fields = text.slice(start + OPEN_LENGTH, end).split(":");
		const first = fields[0] ?? "";
		const name = first.trim();
		if (!name || fields.length > 3 || !fields.slice(1).every(readableStrength)) return { unreadable: written };
		const nameStart = start + OPEN_LENGTH + (first.length - first.trimStart().length);
		entries.push({
			written,
			name,
			nameStart,
			nameEnd: nameStart + name.length
		});
	}
	return { entries };
}
/** Whether a name can stand in an entry and be read back as itself. */
function fitsEntry(name) {
	return name !== "" && name.trim() === name && !/[:<>]/.test(name);
}
var LORA_TEXT_WIDGET = "lora_text";
var HIKAZE_LORAS = "HikazeLoraPowerLoader";
var RGTHREE_LORAS = "Power Lora Loader (rgthree)";
var RGTHREE_ROW = /^lora_(\d+)$/;
var LIST_KEYS = [
	"loras",
	"LoRAs",
	"LoRAList",
	"loRAList"
];
var HIKAZE_FIELDS = [
	"name",
	"full_path",
	"sha256",
	"strength_model",
	"strength_clip",
	"enabled"
];
/** The node a reference names: "12", or "5:12" for node 12 inside the subgraph of node 5 (deeper: "5:7:12"). */
function findNode(graph, nodeId) {
	let current = graph;
	let node = null;
	for (const part of nodeId.split(":")) {
		if (!current?.getNodeById) return null;
		node = current.getNodeById(/^\d+$/.test(part) ? Number(part) : part) ?? null;
		if (!node) return null;
		current = node.subgraph;
	}
	return node;
}
/** The `elsewhere` references with the name to write: the user's pick among `choices`, else the daemon's `use`. */
function planRewrites(refs, picked) {
	return refs.flatMap((ref) => {
		if (ref.status !== "elsewhere") return [];
		const use = picked.get(ref) ?? ref.use;
		return use ? [{
			ref,
			use
		}] : [];
	});
}
/** The absolute path of `use`: the daemon's own `path`, or the file of the choice the user picked. */
function pathFor(ref, use) {
	if (use === ref.use) return ref.path;
	const picked = ref.choices.indexOf(use);
	return picked < 0 ? null : ref.choice_paths[picked] ?? null;
}
/** A widget's value as the report shows it. */
function shown(value) {
	return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
}
function text(value) {
	return typeof value === "string" ? value.trim() : "";
}
/** What a payload entry names, as the daemon's check reads it: its name, else its saved path. */
function namedBy(fields, nameKeys, pathKey) {
	for (const key of nameKeys) {
		const name = text(fields[key]);
		if (name) return name;
	}
	return text(fields[pathKey]);
}
function rowsOf(doc) {
	if (Array.isArray(doc)) return doc;
	if (!doc || typeof doc !== "object") return null;
	const key = LIST_KEYS.find((k) => k in doc);
	const rows = key ? doc[key] : void 0;
	return Array.isArray(rows) ? rows : null;
}
/**
* The sha256 a payload entry takes with the file `use` names: the node outputs that content's trigger words and
* counts its uses, so the old content's sha256 beside a new path would credit the wrong model. Found by sha256,
* every choice is that content; else the answer names the model of `use` alone, and "" says the content is unknown.
*/
function sha256For(ref, use) {
	if (ref.by === "sha256" && ref.sha256) return ref.sha256;
	return (use === ref.use ? ref.model?.sha256 : void 0) ?? "";
}
/** Sets the entry's sha256, adding the field only when there is one to say. */
function setSha256(fields, sha256) {
	if (sha256 || "sha256" in fields) fields.sha256 = sha256;
}
/** Our payload with one entry's file changed, everything else as it was (the order of fields too). */
function payloadValue(ref, current, use) {
	if (typeof current !== "string") return { skipped: "the payload is not text" };
	let doc;
	try {
		doc = JSON.parse(current);
	} catch {
		return { skipped: "the payload is not valid JSON any more" };
	}
	const path = pathFor(ref, use);
	if (ref.entry === null) {
		if (!doc || typeof doc !== "object" || Array.isArray(doc)) return { skipped: "the payload is not a checkpoint" };
		const fields = doc;
		const names = namedBy(fields, ["name"], "ckpt_path");
		if (names !== ref.name) return { skipped: `the payload names ${names || "no file"} now, not ${ref.name}` };
		if (!path) return { skipped: "the daemon named no file for it" };
		fields.ckpt_path = path;
		setSha256(fields, sha256For(ref, use));
	} else {
		const row = rowsOf(doc)?.[ref.entry - 1];
		if (!row || typeof row !== "object") return { skipped: `the payload has no entry ${ref.entry} any more` };
		const fields = row;
		const names = namedBy(fields, ["name", "lora"], "full_path");
		if (names !== ref.name) return { skipped: `payload entry ${ref.entry} names ${names || "no file"} now, not ${ref.name}` };
		if ("lora" in fields && !HIKAZE_FIELDS.some((f) => f in fields)) fields.lora = use;
		else {
			if (!path) return { skipped: "the daemon named no file for it" };
			fields.full_path = path;
			setSha256(fields, sha256For(ref, use));
		}
	}
	return { value: current.includes("\n") ? JSON.stringify(doc, null, 2) : JSON.stringify(doc) };
}
/** The LoRA text with the name inside one entry changed; the prompt around it and the weights stay as written. */
function loraTextValue(ref, entryNumber, current, use) {
	if (typeof current !== "string") return { skipped: "the LoRA text is not text" };
	const read = readLoraText(current);
	if ("unreadable" in read) return { skipped: `the LoRA text has an entry the node cannot read (${read.unreadable})` };
	const entry = read.entries[entryNumber - 1];
	if (!entry) return { skipped: `the LoRA text has no entry ${entryNumber} any more` };
	if (entry.name !== ref.name) return { skipped: `LoRA text entry ${entryNumber} is ${entry.written} now, not ${ref.name}` };
	if (!fitsEntry(use)) return { skipped: `the name ${use} cannot be written into a <lora:...> entry` };
	return { value: current.slice(0, entry.nameStart) + use + current.slice(entry.nameEnd) };
}
/** The value a widget takes for a rewrite, or why it is left as it is. Nothing is written over a value that no
* longer names what the check saw: the user may have changed it since. */
function rewrittenValue(ref, current, use) {
	if (ref.widget === "hikaze_payload") return payloadValue(ref, current, use);
	if (ref.entry !== null) {
		if (ref.widget === LORA_TEXT_WIDGET && ref.node_type === HIKAZE_LORAS) return loraTextValue(ref, ref.entry, current, use);
		return { skipped: `entries of ${ref.node_type}'s ${ref.widget} are not rewritten here; pick ${use} in the node` };
	}
	if (ref.node_type === RGTHREE_LORAS && RGTHREE_ROW.test(ref.widget)) {
		if (!isLoraRow(current)) return { skipped: "the row is not a LoRA row" };
		if (current.lora !== ref.name) return { skipped: `the row holds ${shown(current.lora)} now, not ${ref.name}` };
		return { value: {
			...current,
			lora: use
		} };
	}
	if (current !== ref.name) return { skipped: `it holds ${shown(current)} now, not ${ref.name}` };
	return { value: use };
}
function isLoraRow(value) {
	return !!value && typeof value === "object" && "lora" in value;
}
/**
* The widget an rgthree reference is about. rgthree names its rows from a counter that only goes up and never
* renames one (remove, move up or down), so lora_2 may be the first row. A newer front end saves the widgets' names
* and the check reports those; an older one saves the values only and the check counts the rows. The widget of that
* name is the row when it holds the reference's LoRA; else the row at that place.
*/
function rgthreeRow(node, ref, place) {
	const named = node.widgets?.find((w) => w.name === ref.widget);
	if (named && isLoraRow(named.value) && named.value.lora === ref.name) return named;
	return (node.widgets ?? []).filter((w) => isLoraRow(w.value))[place - 1] ?? `the node has no LoRA row ${place} any more`;
}
/** The widget a reference is about, or why there is none. */
function widgetOf(node, ref) {
	const row = RGTHREE_ROW.exec(ref.widget);
	if (row && ref.node_type === RGTHREE_LORAS) return rgthreeRow(node, ref, Number(row[1]));
	return node.widgets?.find((w) => w.name === ref.widget) ?? `no widget ${ref.widget}`;
}
/**
* Writes every rewrite into its widget the way an edit would (value, callback, the node's change hook). Entries
* of one payload are applied one after the other, each to what the one before left.
*/
function applyRewrites(graph, rewrites) {
	const report = {
		changed: 0,
		skipped: []
	};
	for (const { ref, use } of rewrites) {
		const node = findNode(graph, ref.node_id);
		if (!node) {
			report.skipped.push({
				ref,
				reason: `no node ${ref.node_id} in the graph`
			});
			continue;
		}
		const widget = widgetOf(node, ref);
		if (typeof widget === "string") {
			report.skipped.push({
				ref,
				reason: widget
			});
			continue;
		}
		const next = rewrittenValue(ref, widget.value, use);
		if ("skipped" in next) {
			report.skipped.push({
				ref,
				reason: next.skipped
			});
			continue;
		}
		const old = widget.value;
		widget.value = next.value;
		widget.callback?.(next.value);
		node.onWidgetChanged?.(widget.name, next.value, old, widget);
		report.changed++;
	}
	return report;
}
/** What the dialog says after a rewrite: how many widgets changed, and each entry left alone with the reason. */
function reportText(report) {
	const changed = `Changed ${report.changed} widget${report.changed === 1 ? "" : "s"}`;
	const left = report.skipped.length;
	if (!left) return `${changed}.`;
	const lines = report.skipped.map(({ ref, reason }) => `• ${referencePlace(ref)}, ${ref.name}: ${reason}.`);
	return [`${changed}; left ${left} ${left === 1 ? "entry as it was" : "entries as they were"}:`, ...lines].join("\n");
}
// extension/workflowCheck.ts
/**
* The command "Check this workflow's models": the open graph sent to the daemon's workflow check (through the node
* pack's route on ComfyUI's own server, as the daemon answers no other origin's scripts), the answer listed in a
* dialog, and "Use the names found here" writing the names that resolve here into the widgets, as one undo step.
*/
/** The command's id and label, as scripts/check-comfyui and a person looking in ComfyUI's menus find it. */
var CHECK_COMMAND = "Hikaze.CheckWorkflowModels";
var CHECK_LABEL = "Check this workflow's models";
var CHECK_ROUTE = "/hikaze/workflows/check";
var HEADINGS = {
	missing: "Missing",
	elsewhere: "Here under another name",
	found: "Found"
};
var MATCHED = {
	name: "same file name",
	sha256: "same content (SHA-256)",
	autov2: "same content (AutoV2)"
};
function el(tag, className, text) {
	const node = document.createElement(tag);
	node.className = className;
	if (text !== void 0) node.textContent = text;
	return node;
}
function button(text, testid, onClick) {
	const b = el("button", "hikaze-btn", text);
	b.type = "button";
	b.dataset.testid = testid;
	b.addEventListener("click", onClick);
	return b;
}
/** The daemon's answer, or its error as it words it. */
async function requestCheck(workflow) {
	const url = comfyRoute(`${CHECK_ROUTE}?comfyui=${encodeURIComponent(window.location.origin)}`);
	let response;
	try {
		response = await fetch(url, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ workflow })
		});
	} catch (err) {
		throw new Error(`ComfyUI's server did not answer (${err instanceof Error ? err.message : String(err)})`, { cause: err });
	}
	const body = await response.json().catch(() => null);
	if (!response.ok) {
		const said = body && typeof body === "object" && "error" in body ? String(body.error) : "";
		throw new Error(said || `HTTP ${response.status}: is the Hikaze node pack up to date?`);
	}
	return body;
}
function referenceRow(ref, picked) {
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
			const select = el("select", "hikaze-mode");
			select.dataset.testid = "hikaze-check-choice";
			select.setAttribute("aria-label", `The file to use for ${ref.name}`);
			for (const choice of ref.choices) select.append(new Option(choice, choice, false, choice === ref.use));
			select.addEventListener("change", () => picked.set(ref, select.value));
			use.append(select);
		} else use.append(el("span", "hikaze-check-name", ref.use));
		if (ref.by) use.append(el("span", "hikaze-dim", ` (${MATCHED[ref.by]})`));
		row.append(use);
	}
	return row;
}
/** Every rewrite in one undo step: the open workflow's change tracker where the front end has one. */
function asOneChange(change) {
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
function renderAnswer(body, footer, answer, recheck) {
	const picked = /* @__PURE__ */ new Map();
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
var closeOpen = null;
function checkThisWorkflow() {
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
	const onKey = (event) => {
		if (event.key !== "Escape") return;
		event.stopPropagation();
		event.preventDefault();
		finish();
	};
	function finish() {
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
	const run = async () => {
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
	run();
}
// extension/main.ts
/**
* Hikaze Model Manager in ComfyUI: the panels of the two Hikaze loader nodes, the picker modal, the settings, and a
* way to open the manager itself. Built into the single file ComfyUI imports from `web/comfyui/`.
*/
var CHECKPOINT = "HikazeCheckpointLoader";
var LORAS = "HikazeLoraPowerLoader";
var OPEN_COMMAND = "Hikaze.OpenManager";
var panels = /* @__PURE__ */ new WeakMap();
var owners = /* @__PURE__ */ new WeakMap();
var started = false;
var PAYLOAD_MIN_PX = 140;
/** Where the front end keeps a node's DOM widgets: its graph and its id (known once the node is in a graph). */
function slotOf(node) {
	const id = node.id;
	if (id === void 0 || id === null || id === -1 || id === "-1") return null;
	return `${node.graph?.id ?? ""}:${id}`;
}
function alive(node) {
	return !!node && node.id !== void 0 && node.graph?.getNodeById?.(node.id) === node;
}
/**
* Puts this node's panel where the panel of the node it replaced is still shown. An undo rebuilds every node
* with the same ids; Nodes 2.0 finds a node's DOM widget by graph, node id and widget name and keeps the element
* it mounted for the old node, so without this the old panel stays on screen and its clicks change a node that
* is no longer in the graph.
*/
function claimSlot(node, element) {
	const slot = slotOf(node);
	if (!slot) return;
	element.dataset.hikazeSlot = slot;
	for (const shown of document.querySelectorAll(`[data-hikaze-slot="${CSS.escape(slot)}"]`)) if (shown !== element && !alive(owners.get(shown))) shown.replaceWith(element);
}
function attach(node) {
	const kind = node.comfyClass ?? node.type;
	if (kind !== LORAS && kind !== CHECKPOINT || panels.has(node)) return;
	injectStyles();
	const panel = kind === LORAS ? new LoraPanel(node) : new CheckpointPanel(node);
	panels.set(node, panel);
	owners.set(panel.element, node);
	const onAdded = node.onAdded;
	node.onAdded = function(...args) {
		const answer = onAdded?.apply(this, args);
		claimSlot(node, panel.element);
		return answer;
	};
	const payload = payloadWidget(node);
	if (payload) {
		const options = payload.options ??= {};
		const theirs = options.getMinHeight;
		options.getMinHeight = () => Math.max(theirs?.() ?? 0, PAYLOAD_MIN_PX);
	}
	const widget = node.addDOMWidget("hikaze_panel", "hikaze-panel", panel.element, {
		serialize: false,
		getValue: () => "",
		setValue: () => void 0,
		getMinHeight: () => panel.minHeight()
	});
	widget.serialize = false;
	fitNode(node);
}
app.registerExtension({
	name: "Hikaze.ModelManager",
	settings: settingDefinitions(() => {
		if (started) checkDaemon(true);
	}),
	commands: [{
		id: OPEN_COMMAND,
		label: "Hikaze Model Manager",
		icon: "pi pi-database",
		function: openManagerTab
	}, {
		id: CHECK_COMMAND,
		label: CHECK_LABEL,
		icon: "pi pi-search",
		function: checkThisWorkflow
	}],
	menuCommands: [{
		path: ["Extensions"],
		commands: [OPEN_COMMAND, CHECK_COMMAND]
	}],
	getCanvasMenuItems: () => [null, {
		content: CHECK_LABEL,
		callback: checkThisWorkflow
	}],
	setup() {
		started = true;
		injectStyles();
		app.extensionManager?.registerSidebarTab?.({
			id: "hikaze-model-manager",
			icon: "pi pi-database",
			title: "Hikaze",
			tooltip: "Hikaze Model Manager",
			type: "custom",
			render: renderSidebar
		});
		autostartDaemon();
	},
	beforeRegisterNodeDef(nodeType, nodeData) {
		if (nodeData.name === LORAS) nodeType[`@${SHOW_STRENGTHS}`] = {
			type: "combo",
			values: [...STRENGTH_MODES]
		};
	},
	nodeCreated(node) {
		attach(node);
	},
	loadedGraphNode(node) {
		attach(node);
		const panel = panels.get(node);
		if (panel) claimSlot(node, panel.element);
		panel?.refresh();
	}
});
