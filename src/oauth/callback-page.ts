/**
 * The page the OAuth popup lands on. The WebSocket is the SDKs' signal; this page is for the person looking
 * at the popup and for clients that listen for window messages:
 * - seed clients with a WebSocket: a short message, and the window closes itself;
 * - the oldest seed clients (no WebSocket): `postMessage` of `{eventType, data}` to the opener;
 * - modern clients (Connect UI): `postMessage` and BroadcastChannel `nango_oauth_callback_*` messages;
 *   on error the page stays open to show what happened. The opener also gets `custody_oauth_result`, the
 *   message the WebSocket carries (`{message_type: 'success' | 'error', …}`): when a server restart closed the
 *   page's socket (ResultDelivery.closeForRestart) while its user signed in, the flow still finished on another
 *   process, and this is how the result reaches the page. The Connect UI settles on whichever comes first.
 */
export interface CallbackPageInput {
  outcome: 'success' | 'error';
  protocol: 'seed' | 'modern' | 'legacy';
  title: string;
  message: string;
  providerConfigKey?: string;
  connectionId?: string;
  errorType?: string;
}

export function renderCallbackPage(input: CallbackPageInput): string {
  const script = `
const input = ${scriptJson(input)};
const send = (target, message) => { try { target && target.postMessage(message, '*'); } catch (e) {} };
if (input.protocol === 'legacy') {
  send(window.opener, input.outcome === 'success'
    ? { eventType: 'AUTHORIZATION_SUCEEDED', data: { connectionId: input.connectionId, providerConfigKey: input.providerConfigKey } }
    : { eventType: 'AUTHORIZATION_FAILED', data: { error: { type: input.errorType, message: input.message } } });
  setTimeout(() => window.close(), 300);
} else {
  const message = input.outcome === 'success'
    ? { type: 'nango_oauth_callback_success' }
    : { type: 'nango_oauth_callback_error', payload: { message: input.message, errorType: input.errorType || 'connection_validation_failed' } };
  send(window.opener, message);
  if (input.providerConfigKey && input.connectionId) {
    send(window.opener, { type: 'custody_oauth_result', message: input.outcome === 'success'
      ? { message_type: 'success', provider_config_key: input.providerConfigKey, connection_id: input.connectionId, is_pending: false }
      : { message_type: 'error', provider_config_key: input.providerConfigKey, connection_id: input.connectionId, error_type: input.errorType || 'unknown_err', error_desc: input.message } });
  }
  try { const channel = new BroadcastChannel('nango-oauth-callback'); channel.postMessage(message); channel.close(); } catch (e) {}
  window.addEventListener('message', (event) => { if (event.data && event.data.type === 'nango_oauth_callback_ack') window.close(); });
  if (input.protocol === 'seed') setTimeout(() => window.close(), 300);
  else if (input.outcome === 'success') setTimeout(() => window.close(), 500);
}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
main { max-width: 32rem; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h1 { font-size: 1.25rem; margin: 0 0 .5rem; color: ${input.outcome === 'success' ? '#17803d' : '#b42318'}; }
p { margin: 0; white-space: pre-wrap; }
</style>
</head>
<body>
<main role="${input.outcome === 'success' ? 'status' : 'alert'}">
<h1>${escapeHtml(input.title)}</h1>
<p id="message">${escapeHtml(input.message)}</p>
</main>
<script>${script}</script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);
}

/** JSON safe inside a <script> element: no `</script>` or HTML comment can be formed. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}
