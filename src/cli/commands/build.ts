import type { Command } from 'commander';

/** Registers `smkit build` (placeholder until its issue lands). */
export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit build is not implemented yet');
    });
}
