// Fields that take typed text (a checkbox, a radio or a button takes no text, so keys and pastes there are free).
const TEXT_FIELD =
  "textarea, select, [contenteditable], input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=file])";

/** Whether a key press or a paste aimed at `target` goes into a text field, where the page's own uses of it must
 * not act. */
export function inTextField(target: EventTarget | null): boolean {
  return target instanceof Element && target.closest(TEXT_FIELD) !== null;
}
