import type { Command } from 'commander';
import { wholeNumberFlag } from '../../config/flag-values.js';

/** Registers `smkit serve`. */
export function registerServe(program: Command): void {
  const serve = program.command('serve');
  // `smkit serve models/iris-onnx`, as smkit local and smkit package take the model: name the flag.
  serve.configureOutput({
    outputError: (text, write) => write(serve.args.length === 1 && text.includes('too many arguments') ? `${text}(Did you mean --model-dir ${serve.args[0]}?)\n` : text),
  });
  serve
    .description('Serve /ping and /invocations the way SageMaker calls `docker run <image> serve`')
    .option('--model-dir <dir>', 'model directory (default: SM_MODEL_DIR or $SAGEMAKER_BASE_DIR/model)')
    .option('--port <port>', 'port to listen on, 0 picks a free one (default: SAGEMAKER_BIND_TO_PORT or 8080)', wholeNumberFlag('--port', 0, 65535))
    .option('--host <address>', 'address to bind (default: SMKIT_BIND_HOST or 0.0.0.0; 127.0.0.1 keeps it on this machine)')
    .option('--workers <n>', 'worker processes, 1-256 (default: SAGEMAKER_MODEL_SERVER_WORKERS or CPU count)', wholeNumberFlag('--workers', 1, 256))
    .option('--log-format <format>', 'json | pretty | auto: pretty on a terminal (default: SMKIT_LOG_FORMAT, else auto)')
    .action(async (opts: { modelDir?: string; port?: number; host?: string; workers?: number; logFormat?: string }) => {
      const { serve } = await import('../../server/serve.js');
      await serve(opts);
    });
}
