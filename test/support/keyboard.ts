import type { Frame, Page } from 'playwright-core';

/** What has the keyboard focus, as a keyboard user meets it. */
export interface Focused {
  /** Its accessible name, roughly: aria-label, its label's text, or its own text. */
  name: string;
  tag: string;
  /** A focus indicator is drawn: an outline of at least 2 px on it, or on the field group it sits in. */
  ringVisible: boolean;
  /** Inside an open modal <dialog>, or inside the Connect UI's card. */
  inModal: boolean;
}

/** The element focused in `target` (a page, or the frame of an embedded UI); `null` when nothing is. */
export function focused(target: Page | Frame): Promise<Focused | null> {
  return target.evaluate(() => {
    const element = document.activeElement;
    if (!(element instanceof HTMLElement) || element === document.body) return null;
    const label = element.getAttribute('aria-label') ?? (element as HTMLInputElement).labels?.[0]?.textContent ?? element.textContent ?? '';
    const drawsRing = (node: Element | null) => {
      if (!node) return false;
      const style = getComputedStyle(node);
      return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    };
    return {
      name: label.replace(/\s+/g, ' ').trim(),
      tag: element.tagName.toLowerCase(),
      ringVisible: drawsRing(element) || drawsRing(element.closest('.input-affix')),
      inModal: element.closest('dialog[open], .connect-card') !== null,
    };
  });
}

/**
 * Presses Tab until the focused element's name matches (no press when it already does), as a keyboard user would,
 * and returns every stop on the way; fails when it is not reached within `limit` presses.
 */
export async function tabTo(page: Page, name: string | RegExp, options: { frame?: Frame; limit?: number; back?: boolean } = {}): Promise<Focused[]> {
  const matches = (stop: Focused | null) => stop !== null && (typeof name === 'string' ? stop.name === name : name.test(stop.name));
  const stops: Focused[] = [];
  const start = await focused(options.frame ?? page);
  if (matches(start) && start) return [start];
  for (let press = 0; press < (options.limit ?? 30); press++) {
    await page.keyboard.press(options.back ? 'Shift+Tab' : 'Tab');
    const now = await focused(options.frame ?? page);
    if (now) stops.push(now);
    if (matches(now)) return stops;
  }
  throw new Error(`Tab never reached “${String(name)}”; it went through: ${stops.map((stop) => stop.name).join(' → ')}`);
}

/** Presses Tab (or Shift+Tab) `count` times and returns each stop. */
export async function tabThrough(page: Page, count: number, options: { frame?: Frame; back?: boolean } = {}): Promise<(Focused | null)[]> {
  const stops: (Focused | null)[] = [];
  for (let press = 0; press < count; press++) {
    await page.keyboard.press(options.back ? 'Shift+Tab' : 'Tab');
    stops.push(await focused(options.frame ?? page));
  }
  return stops;
}
