import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The ComfyUI front-end extension: ComfyUI imports every `.js` under the pack's WEB_DIRECTORY (web/comfyui), so the
// build is one ES module and nothing else (styles are injected from it, `public/` is not copied). ComfyUI's
// `scripts/app.js` stays an import; from /extensions/<pack>/ it sits two folders up.
export default defineConfig({
  publicDir: false,
  build: {
    outDir: process.env.HIKAZE_EXT_OUT ?? "comfyui",
    emptyOutDir: true,
    sourcemap: false,
    minify: false,
    lib: {
      entry: fileURLToPath(new URL("extension/main.ts", import.meta.url)),
      formats: ["es"],
      fileName: () => "hikaze-model-manager.js",
    },
    rolldownOptions: {
      external: ["comfyui/app"],
      output: { paths: { "comfyui/app": "../../scripts/app.js" } },
    },
  },
});
