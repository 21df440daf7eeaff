import { defineConfig } from "vite";

// The node serves dist/ at "/"; relative asset URLs keep the page working under any prefix.
export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev` against a local node: API calls go to its HTTP port.
    proxy: { "/api": "http://127.0.0.1:9545" },
  },
});
