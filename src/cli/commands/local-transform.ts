import type { Command } from 'commander';

/** Registers the `transform` part of `smkit local` (placeholder until its issue lands). */
export function registerLocalTransform(local: Command): void {
  local
    .command('transform')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit local transform is not implemented yet');
    });
}
