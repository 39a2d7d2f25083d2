import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import type { CommandContext, CommandSpec } from './command.js';
import { CliError, ExitCode } from './errors.js';
import { formatJson } from './output.js';

/**
 * `init [dir]`: a self-hosting folder made of the package's own `docker-compose.yml` and `nginx.conf`, and a
 * `.env` from `.env.template` with freshly generated secrets.
 */

/** Test-only: the folder to copy the files from instead of the package root. */
export const INIT_SOURCE_ENV = 'CUSTODY_INIT_SOURCE_DIR';
const DEFAULT_DIRECTORY = 'nango';
const DASHBOARD_USERNAME = 'admin';

interface InitFile {
  name: string;
  source: string;
  mode: number;
  render?: (template: string) => string;
}

export const initCommand: CommandSpec = {
  name: 'init',
  group: 'Setup',
  summary: `Write docker-compose.yml, nginx.conf and a .env with new secrets into a folder (default ./${DEFAULT_DIRECTORY})`,
  description:
    'The .env gets a new NANGO_SECRET_KEY (32 random bytes, hex), NANGO_ENCRYPTION_KEY (32 random bytes, base64) and ' +
    `dashboard login (NANGO_DASHBOARD_USERNAME=${DASHBOARD_USERNAME}, NANGO_DASHBOARD_PASSWORD: 18 random bytes, base64url), sets ` +
    'NANGO_PUBLIC_CONNECT=false (connections through connect sessions) and is readable by its owner only (mode 0600). ' +
    'Secrets are not printed: the output says how to read them from the .env. The compose file keeps building the image from this package ' +
    '(its build context is made absolute). Existing files are not overwritten unless --force is given.',
  args: [{ name: 'dir', description: `The folder to write to, created if missing (default ./${DEFAULT_DIRECTORY})`, optional: true }],
  options: ['force'],
  usesServer: false,
  examples: ['nango init', 'nango init /srv/custody --force'],
  async run(context) {
    const shownDirectory = context.args[0] ?? DEFAULT_DIRECTORY;
    const directory = path.resolve(context.cwd, shownDirectory);
    const sourceDirectory = context.env[INIT_SOURCE_ENV] || PACKAGE_ROOT;
    const secrets = {
      NANGO_SECRET_KEY: randomBytes(32).toString('hex'),
      NANGO_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      NANGO_DASHBOARD_USERNAME: DASHBOARD_USERNAME,
      NANGO_DASHBOARD_PASSWORD: randomBytes(18).toString('base64url'),
      // Not a secret, but a new install's setting: nobody may replace a connection by naming its id.
      NANGO_PUBLIC_CONNECT: 'false',
    };
    const files: InitFile[] = [
      { name: 'docker-compose.yml', source: 'docker-compose.yml', mode: 0o644, render: (template) => absoluteBuildContext(template, sourceDirectory) },
      { name: 'nginx.conf', source: 'nginx.conf', mode: 0o644 },
      { name: '.env', source: '.env.template', mode: 0o600, render: (template) => fillSecrets(template, secrets) },
    ];

    // Everything is read and checked before anything is written: a refusal leaves the folder as it was.
    const contents = files.map((file) => {
      const source = path.join(sourceDirectory, file.source);
      let template: string;
      try {
        template = readFileSync(source, 'utf8');
      } catch (error) {
        throw new CliError(`Error: cannot read ${source} (${describeFsError(error)}); the installation looks incomplete.`, ExitCode.failed);
      }
      return file.render ? file.render(template) : template;
    });
    const existing = files.map((file) => path.join(directory, file.name)).filter(exists);
    if (existing.length > 0 && !context.flags.force) {
      const names = existing.map((target) => display(context, target)).join(', ');
      throw new CliError(`Error: ${names} already exist${existing.length === 1 ? 's' : ''}; nothing was written (use --force to overwrite).`, ExitCode.failed);
    }

    const written: string[] = [];
    try {
      mkdirSync(directory, { recursive: true });
      files.forEach((file, index) => {
        const target = path.join(directory, file.name);
        // Removed rather than overwritten, so the new file is created with its mode: a secret is never in a file others can read.
        if (exists(target)) rmSync(target, { force: true });
        writeFileSync(target, contents[index] ?? '', { mode: file.mode, flag: 'wx' });
        written.push(target);
      });
    } catch (error) {
      const target = (error as { path?: unknown }).path;
      throw new CliError(`Error: cannot write ${typeof target === 'string' ? display(context, target) : display(context, directory)} (${describeFsError(error)}).`, ExitCode.failed);
    }

    if (context.flags.json) return context.out.line(formatJson({ directory, files: written }));
    const cd = shellQuote(shownDirectory);
    const envFile = shellQuote(path.join(shownDirectory, '.env'));
    context.out.line(
      [
        `Wrote ${written.map((target) => display(context, target)).join(', ')}.`,
        `The .env holds a new NANGO_SECRET_KEY, NANGO_ENCRYPTION_KEY and dashboard login, and is readable by you only (mode 0600).`,
        'It sets NANGO_PUBLIC_CONNECT=false: end users connect through connect sessions your backend creates (see docs/security.md).',
        '',
        'Next steps:',
        `  (cd ${cd} && docker compose up -d)    # in a subshell: the lines below run from here`,
        `  export NANGO_SECRET_KEY="$(sed -n 's/^NANGO_SECRET_KEY=//p' ${envFile})"`,
        `  export NANGO_HOSTPORT=http://localhost    # where nginx answers (its port is NGINX_PORT, default 80)`,
        `  ${context.programName} config:list`,
        '',
        `The dashboard is at http://localhost: sign in as "${DASHBOARD_USERNAME}" with the password this prints:`,
        `  sed -n 's/^NANGO_DASHBOARD_PASSWORD=//p' ${envFile}`,
        '',
        'Set NANGO_SERVER_URL in the .env to the public URL before registering OAuth apps with providers.',
        '',
        'Keep a copy of NANGO_ENCRYPTION_KEY somewhere safe: stored tokens cannot be decrypted without it.',
      ].join('\n'),
    );
  },
};

/**
 * The compose file builds the image from the folder it lives in (`build: context: .`), which holds the
 * Dockerfile and the sources; the new folder holds neither. A relative build context is therefore made
 * absolute, pointing back at where the file came from, so `docker compose up` in the new folder builds too.
 */
export function absoluteBuildContext(compose: string, sourceDirectory: string): string {
  return compose.replace(
    /^([ \t]*(?:context|build):[ \t]*)(["']?)(\.{1,2}(?:\/[^"'\s#]*)?)\2([ \t]*(?:#.*)?)$/gm,
    (_line, prefix: string, _quote: string, relative: string, rest: string) => `${prefix}${JSON.stringify(path.resolve(sourceDirectory, relative))}${rest}`,
  );
}

/** Replaces the commented `# NAME=` line of the template (or an empty `NAME=`) with the assignment; appends it if there is neither. */
export function fillSecrets(template: string, secrets: Record<string, string>): string {
  let text = template;
  for (const [name, value] of Object.entries(secrets)) {
    const assignment = `${name}=${value}`;
    // An existing assignment wins over the commented example line.
    const placeholder = [new RegExp(`^[ \\t]*${name}[ \\t]*=.*$`, 'm'), new RegExp(`^[ \\t]*#[ \\t]*${name}[ \\t]*=.*$`, 'm')].find((line) => line.test(text));
    text = placeholder ? text.replace(placeholder, () => assignment) : `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${assignment}\n`;
  }
  return text;
}

function exists(target: string): boolean {
  try {
    lstatSync(target);
    return true;
  } catch {
    return false;
  }
}

function display(context: CommandContext, target: string): string {
  const relative = path.relative(context.cwd, target);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : target;
}

function describeFsError(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
