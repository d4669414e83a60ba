/** Growing a node when its panel needs more room (ComfyUI asks the DOM widget's getMinHeight when it lays out). */
import type { ComfyNode } from "./comfy";
import { markChanged } from "./payloadWidget";

export function fitNode(node: ComfyNode): void {
  const wanted = node.computeSize?.();
  if (wanted && node.size && node.setSize && node.size[1] < wanted[1]) node.setSize([node.size[0], wanted[1]]);
  markChanged();
}
