import type { Command } from 'commander';

/** Registers `smkit serve`. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve /ping and /invocations the way SageMaker calls `docker run <image> serve`')
    .option('--model-dir <dir>', 'model directory (default: SM_MODEL_DIR or $SAGEMAKER_BASE_DIR/model)')
    .option('--port <port>', 'port to listen on (default: SAGEMAKER_BIND_TO_PORT or 8080)', (v) => Number(v))
    .option('--workers <n>', 'worker processes (default: SAGEMAKER_MODEL_SERVER_WORKERS or CPU count)', (v) => Number(v))
    .action(async (opts: { modelDir?: string; port?: number; workers?: number }) => {
      const { serve } = await import('../../server/serve.js');
      await serve(opts);
    });
}
