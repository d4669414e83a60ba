import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vitest/config";

// The daemon serves this bundle at `/`; API calls are same-origin. `npm run dev` proxies them to a local daemon.
export default defineConfig({
  plugins: [vue()],
  base: "/",
  build: {
    outDir: process.env.HIKAZE_WEB_OUT ?? "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    proxy: { "/api": process.env.HIKAZE_MM_URL ?? "http://127.0.0.1:8789" },
  },
  test: {
    include: ["src/**/*.test.ts", "extension/**/*.test.ts"],
    environment: "node",
  },
});
