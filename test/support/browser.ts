import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../../src/package-root.js';

/** Debian's Chromium, driven by playwright-core (no browser download). CI installs it; tests skip without it. */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** `httpCredentials` answers a server's HTTP Basic challenge, as a person typing into the browser's login prompt. */
export async function launchBrowser(options: { httpCredentials?: { username: string; password: string; origin: string } } = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'custody-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
    // Background networking off: this machine reaches nothing but loopback, and Chromium must not try.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A new page at `url` that records console errors and uncaught exceptions: specs assert there were none. */
export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 860 }): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  await page.setViewportSize(viewport);
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  return { page, errors };
}

/** Where screenshots go, for a person to look at after a run. */
export const SCREENSHOTS = path.join(PACKAGE_ROOT, 'test-output', 'screenshots');
