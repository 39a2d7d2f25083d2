import { argument, type CommandSpec } from './command.js';
import { optionList, optionText } from './option-values.js';
import { formatBlock, formatDate, formatJson } from './output.js';

/** `connect-session:create`: what a backend does before an end user connects, for trying it by hand or in scripts. */
export const connectSessionCommands: readonly CommandSpec[] = [
  {
    name: 'connect-session:create',
    group: 'Connections',
    summary: 'Create a connect session for an end user, and print its token and connect link',
    description:
      'Open the connect link in a browser to connect an account through the Connect UI, or hand the token to your frontend ' +
      '(new Nango({ connectSessionToken }).openConnectUI() or auth()). The session is short-lived and allows the integrations given ' +
      'with --integration (default: all).',
    args: [{ name: 'end_user_id', description: "Your application's id for the end user who will connect" }],
    options: ['integration', 'email', 'display-name'],
    usesServer: true,
    examples: ['nango connect-session:create user-42 --integration github-prod', 'nango connect-session:create user-42 --json | jq -r .data.connect_link'],
    async run(context) {
      const email = await optionText(context, 'email');
      const displayName = await optionText(context, 'display-name');
      const integrations = optionList(context, 'integration');
      const body = {
        end_user: { id: argument(context, 0), ...(email !== undefined ? { email } : {}), ...(displayName !== undefined ? { display_name: displayName } : {}) },
        ...(integrations.length > 0 ? { allowed_integrations: integrations } : {}),
      };
      const response = await context.api().request('POST', '/connect/sessions', { body });
      const answer = context.api().expectObject(response, 'POST', '/connect/sessions', 'data');
      if (context.flags.json) return context.out.line(formatJson(answer));
      const session = (answer['data'] ?? {}) as Record<string, unknown>;
      context.out.line(
        formatBlock([
          ['Token', session['token']],
          ['Connect link', session['connect_link']],
          ['Expires at', formatDate(session['expires_at'])],
        ]),
      );
    },
  },
];
