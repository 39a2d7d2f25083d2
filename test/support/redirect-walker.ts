/**
 * Follows a browser's redirect chain with fetch and a cookie jar, without a browser, until the next hop
 * would leave for `stopAt` (our callback URL); returns that URL. Only loopback addresses are followed.
 */
export async function followUntil(startUrl: string, stopAt: string, maxHops = 20): Promise<{ url: string; lastStatus: number; lastBody: string }> {
  const cookies = new Map<string, string>();
  let url = startUrl;
  for (let hop = 0; hop < maxHops; hop++) {
    if (url.startsWith(stopAt)) return { url, lastStatus: 302, lastBody: '' };
    const target = new URL(url);
    if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error(`Refusing to follow a redirect off this machine: ${url}`);
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') } });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const location = response.headers.get('location');
    if (!location || response.status < 300 || response.status >= 400) {
      return { url, lastStatus: response.status, lastBody: await response.text() };
    }
    url = new URL(location, url).toString();
  }
  throw new Error(`More than ${maxHops} redirects from ${startUrl}`);
}
