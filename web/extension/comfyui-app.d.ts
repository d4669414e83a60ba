// ComfyUI serves its app module at /scripts/app.js; the build maps this name to that path and leaves it external.
declare module "comfyui/app" {
  export const app: import("./comfy").ComfyApp;
}
