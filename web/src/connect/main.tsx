import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../shared/styles.css';
import { ConnectApp } from './ConnectApp';

const params = new URLSearchParams(window.location.search);
const embedded = window.parent !== window;
// Served by the server it talks to: the page's own origin is the API, unless the parent page names another
// (?apiURL=). openConnectUI sends Nango Cloud's address when the caller gives none: that is never this server.
const requested = params.get('apiURL');
const apiURL = (requested && !/^https:\/\/api\.nango\.dev\/?$/.test(requested) ? requested : window.location.origin).replace(/\/+$/, '');
const theme = params.get('theme');
if (theme === 'light' || theme === 'dark') document.documentElement.dataset['theme'] = theme;
if (embedded) document.body.classList.add('embedded');
// Keep the session token out of the history and of anything that reads the address later.
if (params.has('session_token')) {
  const clean = new URL(window.location.href);
  clean.searchParams.delete('session_token');
  window.history.replaceState(null, '', clean.toString());
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ConnectApp apiURL={apiURL} embedded={embedded} linkToken={params.get('session_token')} detectClosedAuthWindow={params.get('detectClosedAuthWindow') === 'true'} />
  </StrictMode>,
);
