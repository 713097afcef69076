import type { Command } from 'commander';

/** Registers the `endpoint` part of `smkit local` (placeholder until its issue lands). */
export function registerLocalEndpoint(local: Command): void {
  local
    .command('endpoint')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit local endpoint is not implemented yet');
    });
}
