import { describe, expect, it } from "vitest";
import type { WorkflowCheck, WorkflowReference } from "../api/types";
import {
  MAX_BODY_BYTES,
  groupReferences,
  namesToUse,
  pastedRequest,
  readDroppedFile,
  referencePlace,
  sniffType,
} from "./workflowCheck";

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...new TextEncoder().encode(p)] : p)));

function ref(over: Partial<WorkflowReference>): WorkflowReference {
  return {
    node_id: "1", node_type: "LoraLoader", widget: "lora_name", entry: null, kind: "loras", name: "a.safetensors",
    sha256: null, autov2: null, status: "found", use: null, path: null, model: null, by: null, choices: [], choice_paths: [], ...over,
  };
}

describe("sniffType", () => {
  it("knows PNG and WebP by their magic and JSON by its first character", () => {
    expect(sniffType(bytes(PNG))).toBe("image/png");
    expect(sniffType(bytes("RIFF", [1, 2, 3, 4], "WEBPVP8X"))).toBe("image/webp");
    expect(sniffType(bytes('{"nodes": []}'))).toBe("application/json");
    expect(sniffType(bytes([0xef, 0xbb, 0xbf], "\r\n\t  [1]"))).toBe("application/json");
  });

  it("refuses what is none of them: a JPEG, a RIFF that is not WebP, text, nothing", () => {
    expect(sniffType(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBeNull();
    expect(sniffType(bytes("RIFF", [1, 2, 3, 4], "WAVEfmt "))).toBeNull();
    expect(sniffType(bytes("Steps: 20, Sampler: Euler"))).toBeNull();
    expect(sniffType(new Uint8Array())).toBeNull();
  });
});

describe("readDroppedFile", () => {
  it("sends a PNG's bytes untouched with its type, whatever the file's name says", async () => {
    const image = new File([bytes(PNG, "tEXtworkflow\0{}")], "render.json", { type: "application/json" });
    const request = await readDroppedFile(image);
    if ("refused" in request) throw new Error(request.refused);
    expect(request.type).toBe("image/png");
    expect(request.label).toBe("render.json");
    expect(request.body).toBeInstanceOf(Blob);
    expect((request.body as Blob).type).toBe("image/png");
    expect(new Uint8Array(await (request.body as Blob).arrayBuffer())).toEqual(bytes(PNG, "tEXtworkflow\0{}"));
  });

  it("sends a workflow saved without an extension as JSON", async () => {
    const request = await readDroppedFile(new File(['\n{"nodes": []}'], "workflow", { type: "" }));
    expect("refused" in request ? request.refused : request.type).toBe("application/json");
  });

  it("refuses an empty file, one past the daemon's limit and one that is no workflow, before sending", async () => {
    expect(await readDroppedFile(new File([], "empty.json"))).toEqual({ refused: "empty" });
    const huge = { size: MAX_BODY_BYTES + 1, name: "huge.png", slice: () => new Blob() } as unknown as File;
    expect(await readDroppedFile(huge)).toEqual({ refused: "tooBig" });
    expect(await readDroppedFile(new File([bytes([0xff, 0xd8, 0xff])], "photo.jpg"))).toEqual({ refused: "notWorkflow" });
  });
});

describe("pastedRequest", () => {
  it("sends text as JSON as it is, and nothing for blank text", () => {
    expect(pastedRequest(' {"1": {}} ')).toEqual({ body: ' {"1": {}} ', type: "application/json", label: null });
    expect(pastedRequest(" \n ")).toBeNull();
  });
});

describe("groupReferences", () => {
  it("puts missing first, then elsewhere, then found, keeping the daemon's order in each and leaving out empty ones", () => {
    const answer: WorkflowCheck = {
      source: "ui",
      counts: { found: 2, elsewhere: 0, missing: 1 },
      references: [
        ref({ node_id: "1", status: "found" }),
        ref({ node_id: "2", status: "missing" }),
        ref({ node_id: "3", status: "found" }),
      ],
    };
    expect(groupReferences(answer).map((g) => [g.status, g.references.map((r) => r.node_id)])).toEqual([
      ["missing", ["2"]],
      ["found", ["1", "3"]],
    ]);
    expect(groupReferences({ ...answer, references: [] })).toEqual([]);
  });
});

describe("referencePlace and namesToUse", () => {
  it("names the node, the widget and the payload's entry", () => {
    expect(referencePlace(ref({ node_id: "5:12", widget: "hikaze_payload", entry: 2 }))).toBe("#5:12 · hikaze_payload #2");
    expect(referencePlace(ref({ node_id: "7", widget: "lora_1" }))).toBe("#7 · lora_1");
  });

  it("offers every choice, else the one name to use", () => {
    expect(namesToUse(ref({ status: "elsewhere", use: "a/x.safetensors", choices: ["a/x.safetensors", "b/x.safetensors"] })))
      .toEqual(["a/x.safetensors", "b/x.safetensors"]);
    expect(namesToUse(ref({ status: "elsewhere", use: "a/x.safetensors" }))).toEqual(["a/x.safetensors"]);
    expect(namesToUse(ref({ status: "missing" }))).toEqual([]);
  });
});
