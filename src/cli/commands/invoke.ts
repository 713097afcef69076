import type { Command } from 'commander';

/** Registers `smkit invoke` (placeholder until its issue lands). */
export function registerInvoke(program: Command): void {
  program
    .command('invoke')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit invoke is not implemented yet');
    });
}
