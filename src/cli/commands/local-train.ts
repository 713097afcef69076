import type { Command } from 'commander';

/** Registers the `train` part of `smkit local` (placeholder until its issue lands). */
export function registerLocalTrain(local: Command): void {
  local
    .command('train')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit local train is not implemented yet');
    });
}
