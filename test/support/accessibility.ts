import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AxeResults, RunOptions } from 'axe-core';
import type { Frame, Page } from 'playwright-core';
import { SCREENSHOTS } from './browser.js';

/**
 * Accessibility audits with axe-core (the engine of the browsers' own audits), injected from node_modules into
 * the page under test: no CDN, nothing leaves loopback.
 */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** WCAG 2.0 and 2.1, levels A and AA, plus axe's best practices; a spec fails on a serious or critical finding. */
const RUN_OPTIONS: RunOptions = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] };
const BLOCKING = new Set(['serious', 'critical']);

/** The serious and critical violations axe finds in `target` (a page, or the frame of an embedded UI), one readable line each. */
export async function accessibilityViolations(target: Page | Frame): Promise<string[]> {
  const loaded = await target.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === 'object');
  // Evaluated through the DevTools protocol, so the page's Content-Security-Policy does not have to allow it.
  if (!loaded) await target.evaluate(`${AXE_SOURCE}\n;undefined`);
  const results = (await target.evaluate(async (options) => {
    const axe = (window as unknown as { axe: { run(context: Document, options: unknown): Promise<unknown> } }).axe;
    return axe.run(document, options);
  }, RUN_OPTIONS)) as AxeResults;
  return results.violations
    .filter((violation) => BLOCKING.has(violation.impact ?? ''))
    .flatMap((violation) =>
      violation.nodes.map((node) => `${violation.id} [${violation.impact}] ${node.target.join(' ')}: ${(node.failureSummary ?? violation.help).replace(/\s+/g, ' ').trim()}`),
    );
}

export interface StateOptions {
  /** The part of the page to audit, when the product is a frame inside a test page (the Connect UI in openConnectUI). */
  frame?: (page: Page) => Frame;
  /** Screenshot the whole page (the dashboard) or only the viewport (a modal over a test page). */
  fullPage?: boolean;
}

const VARIANTS = [
  { suffix: '', colorScheme: 'light', width: undefined },
  { suffix: '-dark', colorScheme: 'dark', width: undefined },
  { suffix: '-narrow', colorScheme: 'light', width: 390 },
] as const;

/**
 * One state of a page as a person meets it: screenshots (`name`.png, `name`-dark.png, `name`-narrow.png at 390 px) for
 * someone to look at, and an axe audit of each, which must find no serious or critical violation. The page is
 * left as it was found (light, same viewport).
 */
export async function checkState(page: Page, name: string, options: StateOptions = {}): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const viewport = page.viewportSize() ?? { width: 1280, height: 860 };
  const found: string[] = [];
  try {
    for (const variant of VARIANTS) {
      await page.emulateMedia({ colorScheme: variant.colorScheme });
      await page.setViewportSize(variant.width ? { width: variant.width, height: 844 } : viewport);
      const target = options.frame ? options.frame(page) : page;
      await settle(target);
      // Full-page captures draw the sticky sidebar where the page is scrolled to: capture from the top.
      if (options.fullPage ?? true) await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}${variant.suffix}.png`), fullPage: options.fullPage ?? true });
      for (const violation of await accessibilityViolations(target)) found.push(`${name}${variant.suffix}: ${violation}`);
      if (variant.width) {
        // WCAG 1.4.10 (reflow): at 390 px nothing may make the page scroll sideways.
        const overflow = await target.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        if (overflow > 0) found.push(`${name}${variant.suffix}: the page scrolls sideways by ${overflow} px at ${variant.width} px wide`);
      }
    }
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(viewport);
  }
  if (found.length > 0) throw new Error(`Accessibility violations (serious or critical):\n${found.join('\n')}`);
}

/** Waits until colour transitions started by a theme switch are over, so the audit reads final colours. */
async function settle(target: Page | Frame): Promise<void> {
  await target.evaluate(async () => {
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    await Promise.all(
      document
        .getAnimations()
        .filter((animation) => animation instanceof CSSTransition)
        .map((animation) => animation.finished.catch(() => undefined)),
    );
  });
}
