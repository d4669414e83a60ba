import { describe, expect, it } from "vitest";
import {
  checkpointAnswer,
  checkpointFromPick,
  coverUrl,
  describeCheckpoint,
  imageUrl,
  isSha256,
  normalizeDaemonUrl,
  originOf,
  pickAnswer,
  pickerUrl,
  pickKind,
  pickMessage,
  writeCheckpoint,
} from "./pickProtocol";

describe("the daemon URL setting", () => {
  it("adds a scheme, drops trailing slashes and refuses what is no web address", () => {
    expect(normalizeDaemonUrl(" http://127.0.0.1:8789/ ")).toBe("http://127.0.0.1:8789");
    expect(normalizeDaemonUrl("localhost:9000")).toBe("http://localhost:9000");
    expect(normalizeDaemonUrl("https://box.lan/hikaze/")).toBe("https://box.lan/hikaze");
    expect(normalizeDaemonUrl("ftp://x")).toBeNull();
    expect(normalizeDaemonUrl("")).toBeNull();
    expect(normalizeDaemonUrl(42)).toBeNull();
    expect(originOf("http://127.0.0.1:8789/hikaze")).toBe("http://127.0.0.1:8789");
  });
});

describe("the picker's address", () => {
  it("carries the kind, the payload and our origin, decodable by the page", () => {
    const payload = JSON.stringify({ loras: [{ full_path: "/m/a b+c&d=e.safetensors", name: "ä" }] });
    const url = new URL(pickerUrl("http://127.0.0.1:8789", "loras", "http://127.0.0.1:8188", payload));
    expect(url.searchParams.get("pick")).toBe("loras");
    expect(url.searchParams.get("payload")).toBe(payload);
    expect(url.searchParams.get("origin")).toBe("http://127.0.0.1:8188");
    expect(url.toString()).toContain("/m/a%20b%2Bc%26d%3De.safetensors");
    expect(pickerUrl("http://d", "checkpoint", "http://c")).toBe("http://d/?pick=checkpoint&origin=http://c");
  });
});

describe("the picker's answer", () => {
  const frame = {};
  const daemon = "http://127.0.0.1:8789";
  const data = { type: "hikaze-pick", result: { ckpt_path: "/m/a.safetensors" } };

  it("is taken only from the daemon's origin, our frame, in the picker's shape", () => {
    expect(pickAnswer({ origin: daemon, source: frame, data }, daemon, frame)).toEqual({ result: data.result });
    expect(pickAnswer({ origin: "http://evil.test", source: frame, data }, daemon, frame)).toBeNull();
    expect(pickAnswer({ origin: daemon, source: {}, data }, daemon, frame)).toBeNull();
    expect(pickAnswer({ origin: daemon, source: null, data }, daemon, null)).toBeNull();
    expect(pickAnswer({ origin: daemon, source: frame, data: { type: "other" } }, daemon, frame)).toBeNull();
    expect(pickAnswer({ origin: daemon, source: frame, data: "hikaze-pick" }, daemon, frame)).toBeNull();
  });

  it("is what the page posts, for either side to read", () => {
    const model = { path: "/m/a.safetensors", sha256: "a".repeat(64), name: "A" };
    const message = pickMessage(checkpointAnswer(model));
    const answer = pickAnswer({ origin: daemon, source: frame, data: message }, daemon, frame);
    expect(checkpointFromPick(answer?.result)).toEqual({ ckpt_path: model.path, sha256: model.sha256, name: "A" });
  });

  it("turns Cancel into null", () => {
    expect(pickAnswer({ origin: daemon, source: frame, data: { type: "hikaze-pick" } }, daemon, frame)).toEqual({
      result: null,
    });
  });
});

describe("the checkpoint payload", () => {
  it("takes path, sha256 and name from the picker and writes them indented", () => {
    const picked = checkpointFromPick({ ckpt_path: "/m/base.safetensors", sha256: "AB", name: "base", extra: 1 });
    expect(picked).toEqual({ ckpt_path: "/m/base.safetensors", sha256: "ab", name: "base" });
    expect(writeCheckpoint(picked)).toBe(JSON.stringify(picked, null, 2));
    expect(() => checkpointFromPick({ sha256: "x" })).toThrow("no checkpoint path");
    expect(() => checkpointFromPick(null)).toThrow();
  });

  it("describes the node's payload: name, file name, nothing yet, or what is wrong", () => {
    expect(describeCheckpoint(writeCheckpoint({ ckpt_path: "/m/base.safetensors", sha256: "", name: "Base" }))).toEqual(
      { label: "Base", error: null },
    );
    expect(describeCheckpoint('{"ckpt_path": "C:\\\\m\\\\sdxl.safetensors"}').label).toBe("sdxl.safetensors");
    expect(describeCheckpoint('{"ckpt_path": "", "sha256": ""}')).toEqual({ label: null, error: null });
    expect(describeCheckpoint("")).toEqual({ label: null, error: null });
    expect(describeCheckpoint("{").error).toBeTruthy();
    expect(describeCheckpoint("[1]").error).toBe("the payload is not a JSON object");
    expect(describeCheckpoint('{"ckpt_path": 3}').error).toBe("`ckpt_path` is not a string");
  });
});

describe("what the page and the extension both know", () => {
  it("reads the pick kind and model ids", () => {
    expect(pickKind("loras")).toBe("loras");
    expect(pickKind("checkpoint")).toBe("checkpoint");
    expect(pickKind("vae")).toBeNull();
    expect(isSha256("a".repeat(64))).toBe(true);
    expect(isSha256("A".repeat(64))).toBe(false);
    expect(isSha256("a".repeat(63))).toBe(false);
    expect(isSha256(undefined)).toBe(false);
  });

  it("builds the daemon's image addresses", () => {
    const sha = "b".repeat(64);
    expect(imageUrl(sha, 2, "medium")).toBe(`/api/images/${sha}/2/medium`);
    expect(coverUrl("http://127.0.0.1:8789", sha, "low")).toBe(`http://127.0.0.1:8789/api/models/${sha}/cover/low`);
  });
});
