import { describe, expect, it } from "vitest";
import type { WorkflowReference } from "../src/api/types";
import type { ComfyWidget } from "./comfy";
import {
  applyRewrites, findNode, pathFor, planRewrites, reportText, rewrittenValue, type NewValue, type RewriteGraph, type RewriteNode,
} from "./workflowRewrite";

function ref(over: Partial<WorkflowReference>): WorkflowReference {
  return {
    node_id: "1", node_type: "LoraLoader", widget: "lora_name", entry: null, kind: "loras", name: "old.safetensors",
    sha256: null, autov2: null, status: "elsewhere", use: "new/old.safetensors", path: "/m/loras/new/old.safetensors",
    model: null, by: "name", choices: [], choice_paths: [], ...over,
  };
}

/** A node as litegraph keeps one: widgets by name, with a callback ComfyUI's widgets have. */
function node(widgets: Record<string, unknown>, subgraph?: RewriteGraph): RewriteNode & { calls: string[] } {
  const calls: string[] = [];
  const list: ComfyWidget[] = Object.entries(widgets).map(([name, value]) => ({
    name,
    value,
    callback: (v: unknown) => calls.push(`${name}=${typeof v === "string" ? v : JSON.stringify(v)}`),
  }));
  return {
    widgets: list,
    calls,
    subgraph,
    onWidgetChanged: (name) => calls.push(`changed ${name}`),
  };
}

function graph(nodes: Record<number, RewriteNode>): RewriteGraph {
  return { getNodeById: (id) => nodes[Number(id)] };
}

const value = (n: RewriteNode, name: string) => n.widgets?.find((w) => w.name === name)?.value;

describe("findNode", () => {
  it("finds a node by id, and one inside a subgraph by outer:inner", () => {
    const inner = node({});
    const deep = node({});
    const outer = node({}, graph({ 12: inner, 7: node({}, graph({ 3: deep })) }));
    const g = graph({ 5: outer });
    expect(findNode(g, "5")).toBe(outer);
    expect(findNode(g, "5:12")).toBe(inner);
    expect(findNode(g, "5:7:3")).toBe(deep);
    expect(findNode(g, "5:99")).toBeNull();
    expect(findNode(g, "6")).toBeNull();
    expect(findNode(graph({ 5: node({}) }), "5:12")).toBeNull();
  });
});

describe("rewrittenValue", () => {
  it("gives a plain loader widget the name to use", () => {
    expect(rewrittenValue(ref({}), "old.safetensors", "new/old.safetensors")).toEqual({ value: "new/old.safetensors" });
  });

  it("sets an rgthree row's lora and keeps its switch and strengths", () => {
    const row = { on: false, lora: "old.safetensors", strength: 0.6, strengthTwo: null };
    expect(rewrittenValue(ref({ node_type: "Power Lora Loader (rgthree)", widget: "lora_2" }), row, "new/old.safetensors")).toEqual({
      value: { on: false, lora: "new/old.safetensors", strength: 0.6, strengthTwo: null },
    });
    expect(row.lora).toBe("old.safetensors");
    expect(rewrittenValue(ref({ node_type: "Power Lora Loader (rgthree)", widget: "lora_2" }), "text", "x")).toEqual({ skipped: "the row is not a LoRA row" });
  });

  it("sets our payload entry's full_path, keeps its name and every other field, and keeps the layout", () => {
    const doc = {
      version: 2,
      loras: [
        { name: "first", full_path: "/a.safetensors", sha256: "", strength_model: 1, strength_clip: 1, enabled: true },
        { name: "Old style", full_path: "/gone/old.safetensors", strength_model: 0.7, strength_clip: 0.5, enabled: false },
      ],
    };
    const r = ref({ widget: "hikaze_payload", entry: 2, name: "Old style" });
    const out = rewrittenValue(r, JSON.stringify(doc, null, 2), "new/old.safetensors");
    const expected = structuredClone(doc);
    expected.loras[1]!.full_path = "/m/loras/new/old.safetensors";
    expect(out).toEqual({ value: JSON.stringify(expected, null, 2) });
    expect(rewrittenValue(r, JSON.stringify(doc), "new/old.safetensors")).toEqual({ value: JSON.stringify(expected) });
  });

  it("reads the payload's aliases and rgthree-shaped entries, and a checkpoint payload", () => {
    const alias = JSON.stringify({ LoRAs: [{ on: true, lora: "old.safetensors", strength: 1 }] });
    expect(rewrittenValue(ref({ widget: "hikaze_payload", entry: 1 }), alias, "new/old.safetensors")).toEqual({
      value: JSON.stringify({ LoRAs: [{ on: true, lora: "new/old.safetensors", strength: 1 }] }),
    });
    const ckpt = JSON.stringify({ ckpt_path: "/old/x.safetensors", sha256: "", name: "X" });
    expect(
      rewrittenValue(ref({ widget: "hikaze_payload", kind: "checkpoints", name: "X", path: "/m/ckpt/x.safetensors", use: "x.safetensors" }),
        ckpt, "x.safetensors"),
    ).toEqual({ value: JSON.stringify({ ckpt_path: "/m/ckpt/x.safetensors", sha256: "", name: "X" }) });
  });

  it("leaves a payload alone that changed since the check, saying why", () => {
    const r = ref({ widget: "hikaze_payload", entry: 3 });
    expect(rewrittenValue(r, '{"loras": []}', "x")).toEqual({ skipped: "the payload has no entry 3 any more" });
    expect(rewrittenValue(r, "{oops", "x")).toEqual({ skipped: "the payload is not valid JSON any more" });
    expect(rewrittenValue({ ...r, name: "c", path: null }, '{"loras": [{"name": "a"}, {}, {"name": "c"}]}', "c.safetensors")).toEqual({
      skipped: "the daemon named no file for it",
    });
  });
});

describe("rewrittenValue gives a payload entry the sha256 of the file it now names", () => {
  const m = "ab".repeat(32);
  const x = "cd".repeat(32);
  const doc = (sha256?: string) => JSON.stringify({
    loras: [{ name: "Detail", full_path: "/gone/detail.safetensors", ...(sha256 === undefined ? {} : { sha256 }), enabled: true }],
  });
  const entry = (over: Partial<WorkflowReference>) => ref({
    widget: "hikaze_payload", entry: 1, name: "Detail", sha256: x, use: "a/detail.safetensors",
    path: "/m/loras/a/detail.safetensors", choices: ["a/detail.safetensors", "b/detail.safetensors"],
    choice_paths: ["/m/loras/a/detail.safetensors", "/m/loras/b/detail.safetensors"], ...over,
  });
  const written = (out: NewValue) => ("value" in out ? JSON.parse(out.value as string) : out).loras[0];

  it("takes the library's model of the file found by name, else clears the old content's sha256", () => {
    const known = entry({ model: { sha256: m, name: "Detail v2" } });
    expect(written(rewrittenValue(known, doc(x), "a/detail.safetensors"))).toEqual({
      name: "Detail", full_path: "/m/loras/a/detail.safetensors", sha256: m, enabled: true,
    });
    // The model belongs to `use`; another file the user picked is of content the answer does not name.
    expect(written(rewrittenValue(known, doc(x), "b/detail.safetensors")).sha256).toBe("");
    expect(written(rewrittenValue(entry({}), doc(x), "a/detail.safetensors")).sha256).toBe("");
    expect(written(rewrittenValue(entry({}), doc(), "a/detail.safetensors"))).toEqual({
      name: "Detail", full_path: "/m/loras/a/detail.safetensors", enabled: true,
    });
    expect(written(rewrittenValue(known, doc(), "a/detail.safetensors")).sha256).toBe(m);
  });

  it("keeps the sha256 when the file was found by it: every choice is that content", () => {
    const same = entry({ by: "sha256", model: null });
    expect(written(rewrittenValue(same, doc(x.toUpperCase()), "b/detail.safetensors")).sha256).toBe(x);
  });

  it("does the same for a checkpoint payload", () => {
    const ckpt = JSON.stringify({ ckpt_path: "/old/x.safetensors", sha256: x, name: "X" });
    const r = ref({ widget: "hikaze_payload", kind: "checkpoints", name: "X", sha256: x, use: "x.safetensors",
      path: "/m/ckpt/x.safetensors", model: { sha256: m, name: "X" } });
    expect(rewrittenValue(r, ckpt, "x.safetensors")).toEqual({
      value: JSON.stringify({ ckpt_path: "/m/ckpt/x.safetensors", sha256: m, name: "X" }),
    });
    expect(rewrittenValue({ ...r, model: null }, ckpt, "x.safetensors")).toEqual({
      value: JSON.stringify({ ckpt_path: "/m/ckpt/x.safetensors", sha256: "", name: "X" }),
    });
  });
});

describe("rewrittenValue of a LoRA text", () => {
  const text = "masterpiece, <lora:detail:0.8>, ink wash <lora:style:0.5>";
  const entry = (n: number, name: string) =>
    ref({ node_type: "HikazeLoraPowerLoader", widget: "lora_text", entry: n, name, use: "sub/x.safetensors" });

  it("changes only the name inside the entry, keeping the prompt, the weights and the other entries", () => {
    expect(rewrittenValue(entry(1, "detail"), text, "sub/detail.safetensors")).toEqual({
      value: "masterpiece, <lora:sub/detail.safetensors:0.8>, ink wash <lora:style:0.5>",
    });
    expect(rewrittenValue(entry(2, "style"), text, "ink/style v2.safetensors")).toEqual({
      value: "masterpiece, <lora:detail:0.8>, ink wash <lora:ink/style v2.safetensors:0.5>",
    });
    expect(rewrittenValue(entry(1, "a b"), "<LoRA: a b :0.8:0.5> then <lora:c>", "d/a b.safetensors")).toEqual({
      value: "<LoRA: d/a b.safetensors :0.8:0.5> then <lora:c>",
    });
  });

  it("leaves the text alone when the entry no longer names the file, or the node could not read it", () => {
    expect(rewrittenValue(entry(1, "gone"), text, "sub/gone.safetensors")).toEqual({
      skipped: "LoRA text entry 1 is <lora:detail:0.8> now, not gone",
    });
    expect(rewrittenValue(entry(3, "style"), text, "s.safetensors")).toEqual({
      skipped: "the LoRA text has no entry 3 any more",
    });
    expect(rewrittenValue(entry(1, "detail"), "<lora:detail:0,8>", "d.safetensors")).toEqual({
      skipped: "the LoRA text has an entry the node cannot read (<lora:detail:0,8>)",
    });
    expect(rewrittenValue(entry(1, "detail"), "<lora:detail:0.8", "d.safetensors")).toEqual({
      skipped: "the LoRA text has an entry the node cannot read (<lora:detail:0.8)",
    });
    expect(rewrittenValue(entry(1, "detail"), 12, "d.safetensors")).toEqual({ skipped: "the LoRA text is not text" });
  });

  it("does not write a name the entry's syntax cannot hold", () => {
    for (const use of ["a:b.safetensors", "a>b.safetensors", "x<lora:y.safetensors", " padded.safetensors"]) {
      expect(rewrittenValue(entry(1, "detail"), text, use)).toEqual({
        skipped: `the name ${use} cannot be written into a <lora:...> entry`,
      });
    }
  });
});

describe("rewrittenValue leaves what it cannot rewrite safely", () => {
  it("skips a LoRA Manager list entry instead of replacing the whole list", () => {
    const list = [{ name: "old", strength: 1, active: true }, { name: "other", strength: 0.5, active: true }];
    const r = ref({ node_type: "Lora Loader (LoraManager)", widget: "loras", entry: 1, name: "old", use: "new" });
    expect(rewrittenValue(r, list, "new")).toEqual({
      skipped: "entries of Lora Loader (LoraManager)'s loras are not rewritten here; pick new in the node",
    });
  });

  it("writes a loader widget only while it still holds the name the check saw", () => {
    expect(rewrittenValue(ref({}), "picked-since.safetensors", "new/old.safetensors")).toEqual({
      skipped: "it holds picked-since.safetensors now, not old.safetensors",
    });
  });

  it("writes a payload entry only while it still names the file the check saw", () => {
    const doc = { loras: [{ name: "Other", full_path: "/x/other.safetensors" }] };
    const entry = ref({ widget: "hikaze_payload", entry: 1, name: "Detail" });
    expect(rewrittenValue(entry, JSON.stringify(doc), "d.safetensors")).toEqual({
      skipped: "payload entry 1 names Other now, not Detail",
    });
    const ckpt = JSON.stringify({ ckpt_path: "/m/other.safetensors", sha256: "" });
    expect(rewrittenValue(ref({ widget: "hikaze_payload", kind: "checkpoints", name: "/old/x.safetensors" }), ckpt, "x"))
      .toEqual({ skipped: "the payload names /m/other.safetensors now, not /old/x.safetensors" });
  });
});

describe("pathFor", () => {
  it("is the daemon's path for its own name, and the file the daemon gave for another choice", () => {
    const r = ref({
      use: "a/x.safetensors", path: "/m/loras/a/x.safetensors", choices: ["a/x.safetensors", "b/x.safetensors"],
      choice_paths: ["/m/loras/a/x.safetensors", "/nas/loras/b/x.safetensors"],
    });
    expect(pathFor(r, "a/x.safetensors")).toBe("/m/loras/a/x.safetensors");
    expect(pathFor(r, "b/x.safetensors")).toBe("/nas/loras/b/x.safetensors");
    expect(pathFor(r, "c/x.safetensors")).toBeNull();
  });
});

describe("planRewrites and applyRewrites", () => {
  it("rewrites every elsewhere entry with the user's pick, in one pass over one payload's entries", () => {
    const payload = JSON.stringify({
      version: 2,
      loras: [
        { name: "one", full_path: "/gone/one.safetensors" },
        { name: "two", full_path: "/gone/two.safetensors" },
      ],
    });
    const loader = node({ lora_name: "old.safetensors", strength_model: 1 });
    const rg = node({ lora_1: { on: true, lora: "x.safetensors", strength: 1 } });
    const inner = node({ hikaze_payload: payload });
    const g = graph({ 3: loader, 4: rg, 5: node({}, graph({ 12: inner })) });
    const refs = [
      ref({ node_id: "3", choices: ["new/old.safetensors", "other/old.safetensors"] }),
      ref({ node_id: "4", node_type: "Power Lora Loader (rgthree)", widget: "lora_1", name: "x.safetensors", use: "y/x.safetensors" }),
      ref({ node_id: "5:12", widget: "hikaze_payload", entry: 1, name: "one", use: "l/one.safetensors", path: "/m/loras/l/one.safetensors" }),
      ref({ node_id: "5:12", widget: "hikaze_payload", entry: 2, name: "two", use: "l/two.safetensors", path: "/m/loras/l/two.safetensors" }),
      ref({ node_id: "3", status: "found", use: "old.safetensors" }),
      ref({ node_id: "3", status: "missing", use: null }),
      ref({ node_id: "9" }),
    ];
    const plan = planRewrites(refs, new Map([[refs[0]!, "other/old.safetensors"]]));
    expect(plan.map((p) => p.use)).toEqual([
      "other/old.safetensors", "y/x.safetensors", "l/one.safetensors", "l/two.safetensors", "new/old.safetensors",
    ]);

    const report = applyRewrites(g, plan);
    expect(report.changed).toBe(4);
    expect(report.skipped).toEqual([{ ref: refs[6], reason: "no node 9 in the graph" }]);
    expect(value(loader, "lora_name")).toBe("other/old.safetensors");
    expect(value(loader, "strength_model")).toBe(1);
    expect(loader.calls).toEqual(["lora_name=other/old.safetensors", "changed lora_name"]);
    expect(value(rg, "lora_1")).toEqual({ on: true, lora: "y/x.safetensors", strength: 1 });
    expect(JSON.parse(value(inner, "hikaze_payload") as string)).toEqual({
      version: 2,
      loras: [
        { name: "one", full_path: "/m/loras/l/one.safetensors" },
        { name: "two", full_path: "/m/loras/l/two.safetensors" },
      ],
    });
  });

  it("rewrites two entries of one LoRA text one after the other, and leaves a LoRA Manager list whole", () => {
    const text = "masterpiece, <lora:detail:0.8>, ink wash <lora:style:0.5>";
    const list = [{ name: "old", strength: 1, active: true }];
    const ours = node({ hikaze_payload: '{"loras": []}', lora_text: text });
    const theirs = node({ loras: list });
    const g = graph({ 7: ours, 8: theirs });
    const entry = (n: number, name: string, use: string) =>
      ref({ node_id: "7", node_type: "HikazeLoraPowerLoader", widget: "lora_text", entry: n, name, use });
    const refs = [
      entry(1, "detail", "sub/detail.safetensors"),
      entry(2, "style", "style.safetensors"),
      ref({ node_id: "8", node_type: "Lora Loader (LoraManager)", widget: "loras", entry: 1, name: "old", use: "new" }),
    ];
    const report = applyRewrites(g, planRewrites(refs, new Map()));
    expect(report.changed).toBe(2);
    expect(report.skipped.map((s) => s.ref)).toEqual([refs[2]]);
    expect(value(ours, "lora_text")).toBe(
      "masterpiece, <lora:sub/detail.safetensors:0.8>, ink wash <lora:style.safetensors:0.5>",
    );
    expect(value(theirs, "loras")).toBe(list);
    expect(list).toEqual([{ name: "old", strength: 1, active: true }]);
  });

  it("finds an rgthree row by its place among the node's LoRA rows, whatever its widget is called", () => {
    // rgthree names rows from a counter that only goes up: after row 1 was removed the rows are lora_2 and lora_3,
    // and the check, reading widget values by position, calls them lora_1 and lora_2.
    const rg = node({
      header: { type: "PowerLoraLoaderHeaderWidget" },
      lora_2: { on: true, lora: "a.safetensors", strength: 1 },
      lora_3: { on: false, lora: "b.safetensors", strength: 0.4 },
      add: "",
    });
    const row = (n: number, name: string, use: string) =>
      ref({ node_id: "4", node_type: "Power Lora Loader (rgthree)", widget: `lora_${n}`, name, use });
    const refs = [
      row(1, "a.safetensors", "x/a.safetensors"),
      row(2, "b.safetensors", "y/b.safetensors"),
      row(3, "c.safetensors", "c2.safetensors"),
    ];
    const report = applyRewrites(graph({ 4: rg }), planRewrites(refs, new Map()));
    expect(value(rg, "lora_2")).toEqual({ on: true, lora: "x/a.safetensors", strength: 1 });
    expect(value(rg, "lora_3")).toEqual({ on: false, lora: "y/b.safetensors", strength: 0.4 });
    expect(report).toEqual({ changed: 2, skipped: [{ ref: refs[2], reason: "the node has no LoRA row 3 any more" }] });
    expect(rg.calls).toEqual([
      'lora_2={"on":true,"lora":"x/a.safetensors","strength":1}', "changed lora_2",
      'lora_3={"on":false,"lora":"y/b.safetensors","strength":0.4}', "changed lora_3",
    ]);
  });

  it("finds an rgthree row by the widget name the check reports when the workflow saved the names", () => {
    // A newer front end saves widgets_values_named: the check then says lora_3 for the row of that name, second.
    const rg = node({
      lora_2: { on: true, lora: "a.safetensors", strength: 1 },
      lora_3: { on: true, lora: "b.safetensors", strength: 0.5 },
    });
    const r = ref({ node_id: "4", node_type: "Power Lora Loader (rgthree)", widget: "lora_3", name: "b.safetensors",
      use: "y/b.safetensors" });
    expect(applyRewrites(graph({ 4: rg }), planRewrites([r], new Map()))).toEqual({ changed: 1, skipped: [] });
    expect(value(rg, "lora_2")).toEqual({ on: true, lora: "a.safetensors", strength: 1 });
    expect(value(rg, "lora_3")).toEqual({ on: true, lora: "y/b.safetensors", strength: 0.5 });
  });

  it("leaves an rgthree row that moved since the check", () => {
    const rg = node({ lora_1: { on: true, lora: "b.safetensors" }, lora_2: { on: true, lora: "a.safetensors" } });
    const r = ref({ node_id: "4", node_type: "Power Lora Loader (rgthree)", widget: "lora_1", name: "a.safetensors" });
    expect(applyRewrites(graph({ 4: rg }), planRewrites([r], new Map()))).toEqual({
      changed: 0, skipped: [{ ref: r, reason: "the row holds b.safetensors now, not a.safetensors" }],
    });
    expect(value(rg, "lora_1")).toEqual({ on: true, lora: "b.safetensors" });
  });

  it("names a widget the node does not have", () => {
    const g = graph({ 3: node({ ckpt_name: "a" }) });
    const r = ref({ node_id: "3", widget: "lora_name" });
    expect(applyRewrites(g, planRewrites([r], new Map()))).toEqual({ changed: 0, skipped: [{ ref: r, reason: "no widget lora_name" }] });
  });
});

describe("reportText", () => {
  it("counts the widgets changed and names each entry left alone, with its reason", () => {
    expect(reportText({ changed: 1, skipped: [] })).toBe("Changed 1 widget.");
    const text = ref({ node_id: "7", widget: "lora_text", entry: 2, name: "style" });
    const list = ref({ node_id: "5:8", widget: "loras", entry: 1, name: "old" });
    expect(reportText({ changed: 3, skipped: [{ ref: text, reason: "the LoRA text has no entry 2 any more" }] })).toBe(
      "Changed 3 widgets; left 1 entry as it was:\n• #7 · lora_text #2, style: the LoRA text has no entry 2 any more.",
    );
    expect(reportText({ changed: 0, skipped: [{ ref: text, reason: "a" }, { ref: list, reason: "b" }] })).toBe(
      "Changed 0 widgets; left 2 entries as they were:\n• #7 · lora_text #2, style: a.\n• #5:8 · loras #1, old: b.",
    );
  });
});
