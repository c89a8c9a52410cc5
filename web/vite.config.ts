import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

/** The dashboard: built into dist/web, which `aso serve` serves at `/` (src/api/web-ui.ts). */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // React's automatic JSX runtime through Vite's own transform: no React plugin needed for a production build
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // ECharts is most of the bundle; it is one file, fetched once and cached
    chunkSizeWarningLimit: 1500,
  },
})
