// The flags the README's CLI section and each command's page of docs/ document are the flags the
// parser registers (the README's synopses name every command and all its flags), and each is in the command's --help: a flag added, renamed or removed in one
// place and not the other fails here instead of drifting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createProgram } from '../../src/cli/main.js';
import { REPO_ROOT } from '../helpers/serve-process.js';

const read = (file: string): string => readFileSync(path.join(REPO_ROOT, file), 'utf8');

/** The command at `names` (`['local', 'transform']`; `['local']` is its default `start`). */
async function command(names: readonly string[]): Promise<Command> {
  let cmd = await createProgram(['node', 'smkit', ...names]);
  for (const name of names) cmd = cmd.commands.find((c) => c.name() === name)!;
  return names.length === 1 && names[0] === 'local' ? cmd.commands.find((c) => c.name() === 'start')! : cmd;
}

const registered = (cmd: Command): string[] => cmd.options.flatMap((o) => (o.long === undefined ? [] : [o.long])).sort();
const longFlags = (text: string): string[] => [...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]);

/** Each command's flag table (rows starting with `| \`--flag` or `| \`-f, --flag`) and the page it is on. */
const TABLES: ReadonlyArray<readonly [page: string, names: readonly string[]]> = [
  ['docs/cli-tools.md', ['invoke']],
  ['docs/local-endpoints.md', ['local']],
  ['docs/batch-transform.md', ['local', 'transform']],
  ['docs/training.md', ['local', 'train']],
  ['docs/packaging.md', ['package']],
  ['docs/images.md', ['build']],
  ['docs/deploy.md', ['deploy']],
];

test("each command's page of docs/ has a row for every flag the parser registers, and no other", async () => {
  for (const [page, names] of TABLES) {
    const rows = read(page).split('\n').filter((line) => /^\| `-/.test(line));
    const documented = rows.map((row) => longFlags(row.split('|')[1]!)[0]!).sort();
    assert.deepEqual(documented, registered(await command(names)), `smkit ${names.join(' ')} (${page})`);
  }
});

test("every flag the README's CLI section names for a command is registered on it and listed in its --help; every command's synopsis there lists them all", async () => {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('\n## The CLI\n'), readme.indexOf('\n## Errors\n'));
  const commands = ['serve', 'train', 'local', 'invoke', 'package', 'init', 'build', 'deploy'];
  // Every command the parser has, local's subcommands as `local transform`/`local train` (its `start` is `local`).
  const program = await createProgram(['node', 'smkit']);
  const all = program.commands.filter((c) => c.name() !== 'help').flatMap((c) => (c.commands.length > 0 ? c.commands.filter((s) => s.name() !== 'help').map((s) => (s.name() === 'start' ? [c.name()] : [c.name(), s.name()])) : [[c.name()]]));
  assert.deepEqual(all.map((n) => n[0]).filter((n, i, a) => a.indexOf(n) === i).sort(), [...commands].sort(), 'commands the parser has');
  const named = new Map<string, Set<string>>(all.map((n) => [n.join(' '), new Set<string>()]));
  let checked = 0;
  for (const [, span] of section.matchAll(/`([^`]+)`/g)) {
    const words = span!.replace(/^smkit /, '').split(/\s+/);
    if (!commands.includes(words[0]!)) continue;
    const names = words[0] === 'local' && ['transform', 'train'].includes(words[1]!) ? words.slice(0, 2) : words.slice(0, 1);
    const cmd = await command(names);
    const help = cmd.helpInformation();
    for (const flag of longFlags(span!)) {
      assert.ok(registered(cmd).includes(flag), `README: \`${span}\` names ${flag}, which smkit ${names.join(' ')} does not have`);
      assert.ok(help.includes(flag), `smkit ${names.join(' ')} --help does not list ${flag}`);
      named.get(names.join(' '))?.add(flag);
      checked++;
    }
  }
  for (const names of all) {
    const missing = registered(await command(names)).filter((flag) => !named.get(names.join(' '))!.has(flag));
    assert.deepEqual(missing, [], `README's CLI section: smkit ${names.join(' ')} has flags no \`smkit ${names.join(' ')} ...\` synopsis names`);
  }
  assert.ok(checked >= 80, `only ${checked} flags found in the README's CLI section`);
});
