import type { Command } from 'commander';

/** Registers `smkit local` (placeholder until its issue lands). */
export function registerLocal(program: Command): void {
  program
    .command('local')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit local is not implemented yet');
    });
}
