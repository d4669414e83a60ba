import { ref } from "vue";
import { inTextField } from "../logic/typing";
import { useWindowEvent } from "./useWindowEvent";

function hasFiles(e: DragEvent): boolean {
  return e.dataTransfer?.types.includes("Files") ?? false;
}

/** Files dragged onto an element: bind the handlers to it; `dragging` is true while files hover over it. */
export function useFileDrop(onFiles: (files: File[]) => void) {
  const dragging = ref(false);

  function onDragOver(e: DragEvent): void {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    dragging.value = true;
  }

  function onDragLeave(e: DragEvent): void {
    const to = e.relatedTarget;
    if (!(to instanceof Node) || !(e.currentTarget as HTMLElement).contains(to)) dragging.value = false;
  }

  function onDrop(e: DragEvent): void {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragging.value = false;
    onFiles([...(e.dataTransfer?.files ?? [])]);
  }

  return { dragging, onDragOver, onDragLeave, onDrop };
}

/** Images pasted anywhere on the page, unless pasted into a text field or while a dialog is up. */
export function usePastedImages(onFiles: (files: File[]) => void): void {
  useWindowEvent("paste", (e) => {
    if (inTextField(e.target)) return;
    if (document.querySelector("dialog[open]")) return;
    const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
    if (!files.length) return;
    e.preventDefault();
    onFiles(files);
  });
}
