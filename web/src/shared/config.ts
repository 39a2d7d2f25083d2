/** Settings the server injects into each page as `<meta name="custody-config" content="{…}">` (no inline script). */
export function pageConfig<T extends object>(fallback: T): T {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="custody-config"]');
  if (!meta?.content) return fallback;
  try {
    return { ...fallback, ...(JSON.parse(meta.content) as Partial<T>) };
  } catch {
    return fallback;
  }
}
