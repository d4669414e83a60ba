import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { errorText, useUiStore } from "./ui";

beforeEach(() => {
  vi.useFakeTimers();
  setActivePinia(createPinia());
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the ui store", () => {
  it("shows a message for a while, an error longer", () => {
    const ui = useUiStore();
    ui.notify("saved");
    ui.notify("failed", "error");
    vi.advanceTimersByTime(3500);
    expect(ui.toasts.map((t) => t.text)).toEqual(["failed"]);
    vi.advanceTimersByTime(9000 - 3500);
    expect(ui.toasts).toEqual([]);
  });

  it("keeps a message that offers a button until it is used or its longer time is up", () => {
    const ui = useUiStore();
    const asked: string[] = [];
    ui.notify("not found", "info", undefined, { label: "Ask again", run: () => asked.push("again") });
    vi.advanceTimersByTime(9000);
    expect(ui.toasts.map((t) => [t.text, t.action?.label])).toEqual([["not found", "Ask again"]]);
    ui.toasts[0]?.action?.run();
    expect(asked).toEqual(["again"]);
    vi.advanceTimersByTime(3000);
    expect(ui.toasts).toEqual([]);
  });

  it("reports failures but not cancelled requests or a missing token", () => {
    const ui = useUiStore();
    ui.reportError(new DOMException("gone", "AbortError"));
    ui.reportError(new ApiError(401, "token needed"));
    ui.reportError(new ApiError(500, "disk full"));
    expect(ui.toasts.map((t) => [t.kind, t.text])).toEqual([["error", "disk full (500)"]]);
    expect(errorText(new ApiError(0, "the daemon did not answer"))).toBe("the daemon did not answer");
  });

  it("answers an open question with no when a new one is asked", async () => {
    const ui = useUiStore();
    const first = ui.askConfirm({ title: "a", message: "", ok: "ok" });
    const second = ui.confirm({ title: "b", message: "", ok: "ok" });
    expect(await first).toEqual({ ok: false, checked: false });
    ui.confirmRequest?.resolve({ ok: true, checked: false });
    expect(await second).toBe(true);
    expect(ui.confirmRequest).toBeNull();
  });
});
