// Modal dialogs and popups, on the page and in the ComfyUI extension alike: focus goes back to what opened them,
// and Tab stays inside while they are open.

/** Gives focus back to `opener` (what had it when a dialog or menu opened) if it is still on the page. */
export function returnFocus(opener: Element | null): void {
  if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
}

/**
 * Opens a modal <dialog> (the browser keeps focus inside it), focuses `first` in it when given (the action a
 * dialog offers first), and gives focus back to its opener however it closes.
 */
export function showModal(dialog: HTMLDialogElement | null | undefined, first?: HTMLElement | null): void {
  if (!dialog || dialog.open) return;
  const opener = document.activeElement;
  dialog.addEventListener("close", () => returnFocus(opener), { once: true });
  dialog.showModal();
  first?.focus();
}

/**
 * For a modal that is not a <dialog> (the extension's, over ComfyUI's page): focus that leaves `container` (Tab
 * past its last control, also out of an iframe in it, whose keys the page never sees) goes back to `home`.
 * Returns the function that ends the trap.
 */
export function trapFocus(container: HTMLElement, home: HTMLElement): () => void {
  const onFocus = (event: FocusEvent): void => {
    if (event.target instanceof Node && !container.contains(event.target)) home.focus();
  };
  document.addEventListener("focusin", onFocus);
  return () => document.removeEventListener("focusin", onFocus);
}
