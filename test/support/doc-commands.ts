import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** A fenced shell block of a document, under the `## ` section it belongs to. */
export interface DocBlock {
  section: string;
  /** The words after `sh` in the fence: `server` (the first terminal), `paste` (the reader pastes its input). */
  tags: string[];
  code: string;
}

/** Every ```sh block of a Markdown document, in order; other fences (```text, ```js …) are prose. */
export function shellBlocks(markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  let section = '';
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (line.startsWith('## ')) section = line.slice(3).trim();
    const fence = /^```(\S*)(.*)$/.exec(line);
    if (!fence) continue;
    const body: string[] = [];
    for (index++; index < lines.length && !(lines[index] ?? '').startsWith('```'); index++) body.push(lines[index] ?? '');
    if (fence[1] === 'sh') blocks.push({ section, tags: (fence[2] ?? '').trim().split(/\s+/).filter(Boolean), code: body.join('\n') });
  }
  return blocks;
}

/**
 * One bash, as the reader's second terminal: blocks run in it one after another, so what one exports the next
 * sees, and it stops at the first command that fails (`set -eo pipefail`), reporting the block and its output.
 * Each block reads its standard input from what the reader would paste, or from nothing.
 */
export class ShellSession {
  private readonly bash: ChildProcessWithoutNullStreams;
  private output = '';
  private exited: number | null | undefined;
  private count = 0;

  constructor(
    cwd: string,
    env: Record<string, string>,
    private readonly scratch: string,
  ) {
    this.bash = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: 'pipe' });
    this.bash.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.bash.stderr.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.bash.once('exit', (code) => (this.exited = code));
    this.bash.stdin.write('set -eo pipefail\n');
  }

  /** Runs a block; resolves with what it printed (stdout and stderr), or rejects with that if a command failed. */
  async run(code: string, input = '', timeoutMs = 60_000): Promise<string> {
    const n = ++this.count;
    const file = path.join(this.scratch, `block-${n}.sh`);
    const inputFile = path.join(this.scratch, `block-${n}.input`);
    writeFileSync(file, `${code}\n`);
    writeFileSync(inputFile, input);
    const marker = `@@block-${n}-done@@`;
    const start = this.output.length;
    this.bash.stdin.write(`source ${JSON.stringify(file)} < ${JSON.stringify(inputFile)}\necho ${marker}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(marker, start)) {
      if (this.exited !== undefined || Date.now() > deadline) {
        const why = this.exited !== undefined ? `failed (bash exited with ${String(this.exited)})` : `did not finish within ${timeoutMs} ms`;
        throw new Error(`This block of the document ${why}:\n${code}\n--- its output ---\n${this.output.slice(start)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.output.slice(start, this.output.indexOf(marker, start));
  }

  close(): void {
    if (this.exited === undefined) this.bash.kill('SIGKILL');
  }
}
