import { nextTick } from "vue";

// A virtual list draws rows it scrolled to on a later frame; past a few frames the row is not coming.
const FRAMES = 5;

/** Focuses the element `[data-index=index]` inside `container` as soon as it is drawn, after a scroll to it. */
export async function focusWhenDrawn(container: () => HTMLElement | null, index: number): Promise<void> {
  for (let frame = 0; frame < FRAMES; frame++) {
    await nextTick();
    const el = container()?.querySelector<HTMLElement>(`[data-index="${index}"]`);
    if (el) {
      el.focus();
      return;
    }
    await new Promise((r) => requestAnimationFrame(r));
  }
}
