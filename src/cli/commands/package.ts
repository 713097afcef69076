import type { Command } from 'commander';

/** Registers `smkit package` (placeholder until its issue lands). */
export function registerPackage(program: Command): void {
  program
    .command('package')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit package is not implemented yet');
    });
}
