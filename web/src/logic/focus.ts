import { nextTick } from "vue";

// Fields that take typed text; a checkbox or a button does not, so a shortcut pressed on one still counts.
const TEXT_FIELD =
  "textarea, select, [contenteditable], input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=file])";

/** Whether a key press or a paste belongs to a field being typed in, so the page's own handlers leave it alone. */
export function isTyping(target: EventTarget | null): boolean {
  return target instanceof Element && target.closest(TEXT_FIELD) !== null;
}

/** Whether a modal dialog is open: the page behind it takes no shortcuts. */
export function modalOpen(): boolean {
  return document.querySelector("dialog[open]") !== null;
}

// A virtual list draws the rows it was scrolled to on its next frame, or the one after when it measures first.
const FRAMES_TO_DRAW = 5;

/**
 * Focuses the element `find` returns once a virtual list has drawn it (after `scrollToIndex`, the row is not in
 * the DOM yet). Gives up quietly when it never appears (the list changed meanwhile).
 */
export async function focusWhenDrawn(find: () => HTMLElement | null | undefined): Promise<void> {
  for (let frame = 0; frame < FRAMES_TO_DRAW; frame++) {
    await nextTick();
    const el = find();
    if (el) {
      el.focus();
      return;
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}
