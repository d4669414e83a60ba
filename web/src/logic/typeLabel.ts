// A model type is a ComfyUI folder name (`upscale_models`). The tabs and rows show it as words in the page's
// language: the folders ComfyUI ships have translations; a folder the user added reads as its name made readable.

/** `upscale_models` → "Upscale models"; `my-LoRAs` stays "My-LoRAs". */
export function readableFolder(type: string): string {
  const words = type.replace(/_+/g, " ").trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : type;
}

/** The label of `type`: its translation when the page has one (`types.<type>`), else the readable folder name. */
export function typeLabel(type: string, translate: (key: string) => string, has: (key: string) => boolean): string {
  const key = `types.${type}`;
  return has(key) ? translate(key) : readableFolder(type);
}
