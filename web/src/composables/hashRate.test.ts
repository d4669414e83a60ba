import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { effectScope } from "vue";
import type { DaemonEvent } from "../api/types";
import { emit, listeners } from "../testing/fakeEvents";
import { WINDOW_MS, useHashRate } from "./useHashRate";

vi.mock("../api/events", () => import("../testing/fakeEvents"));

function hashed(id: number, size: number): DaemonEvent {
  return { type: "pending.updated", id, path: `/m/${id}`, status: "ready", size_bytes: size } as DaemonEvent;
}

describe("useHashRate", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("says files and bytes per second while files are hashed, and nothing once they stop", () => {
    const scope = effectScope();
    const { rate } = scope.run(() => useHashRate(() => Date.now()))!;
    expect(rate.value).toBeNull();
    for (let i = 0; i < 20; i++) {
      emit(hashed(i, 1024));
      vi.advanceTimersByTime(100); // 10 files a second, 10 KiB a second
    }
    vi.advanceTimersByTime(1000 - ((20 * 100) % 1000));
    expect(rate.value!.filesPerS).toBeCloseTo(20 / 3, 1); // 20 files in the 3 s since the run began
    expect(rate.value!.bytesPerS).toBeCloseTo((20 * 1024) / 3, 0);
    vi.advanceTimersByTime(WINDOW_MS + 1000);
    expect(rate.value).toBeNull();
    scope.stop();
  });

  it("ignores updates that are not a finished hash, and stops listening and ticking when its scope ends", () => {
    const scope = effectScope();
    const { rate } = scope.run(() => useHashRate(() => Date.now()))!;
    emit({ type: "pending.updated", id: 1, path: "/m/1", status: "settling" } as DaemonEvent);
    vi.advanceTimersByTime(2000);
    expect(rate.value).toBeNull();
    const before = listeners();
    emit(hashed(2, 10));
    scope.stop();
    expect(listeners()).toBe(before - 1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
