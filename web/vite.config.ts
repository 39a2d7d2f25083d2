import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The dashboard (index.html, served at `/`) and the Connect UI (connect/index.html, served at the path of
 * NANGO_PUBLIC_CONNECT_URL), built into dist/web as static files the server serves itself.
 */
export default defineConfig({
  root: here,
  base: '/',
  publicDir: path.join(here, 'public'),
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: path.resolve(here, '../dist/web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: {
        dashboard: path.join(here, 'index.html'),
        connect: path.join(here, 'connect/index.html'),
      },
    },
  },
});
