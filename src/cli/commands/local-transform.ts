import { Option, type Command } from 'commander';
import { choiceFlag } from '../../config/flag-values.js';

/** An option taking one of `choices`, listed in `--help`; another value is `ERR_CLI_USAGE` naming the one meant (`line`: `Line`). */
function choiceOption(flags: string, description: string, choices: readonly string[]): Option {
  return new Option(flags, description).choices(choices).argParser(choiceFlag(flags.split(' ')[0]!, choices));
}

const STRATEGIES = ['MultiRecord', 'SingleRecord', 'MULTI_RECORD', 'SINGLE_RECORD'] as const;

/** Registers `smkit local transform`: a SageMaker batch transform job run on this machine. */
export function registerLocalTransform(local: Command): void {
  local
    .command('transform')
    .description('Run a batch transform: split input files into records, send mini-batches to /invocations, write <file>.out')
    .requiredOption('--input <dir>', 'input folder (walked recursively, dot-files skipped) or a single file')
    .requiredOption('--output <dir>', 'output folder for <relative path>.out (and .out.failed) files')
    .option('--model <dir|tar.gz>', 'model directory or model.tar.gz: smkit serve is started on a temporary /opt/ml tree')
    .option('--url <url>', 'base URL of a running container instead of --model, e.g. http://127.0.0.1:8080')
    .option('--content-type <type>', 'request Content-Type (default: from the file extension, e.g. .csv → text/csv)')
    .option('--accept <type>', "request Accept (default: none sent, the container's default applies)")
    .addOption(choiceOption('--split-type <type>', 'how to split input files into records', ['None', 'Line', 'RecordIO', 'TFRecord']).default('None'))
    .addOption(choiceOption('--s3-data-type <type>', 'S3DataType: ManifestFile reads --input as a manifest, [{"prefix": "<folder>"}, "file", ...]', ['S3Prefix', 'ManifestFile']).default('S3Prefix'))
    .addOption(choiceOption('--compression-type <type>', 'CompressionType: Gzip input files are gunzipped before splitting', ['None', 'Gzip']).default('None'))
    .option('--input-filter <jsonpath>', 'DataProcessing.InputFilter: the part of each record sent, e.g. "$[1:]" (CSV) or "$.features" (JSON)')
    .addOption(choiceOption('--join-source <source>', 'DataProcessing.JoinSource: Input writes each record joined with its answer', ['None', 'Input']))
    .option('--output-filter <jsonpath>', 'DataProcessing.OutputFilter: the part of the (joined) record written, e.g. "$[0,-1]" or "$[\'id\',\'SageMakerOutput\']"')
    // Its default depends on the container, so it is no commander default: the choices and the default
    // are written as one note, as commander writes them for the flags whose default it knows.
    .addOption(
      new Option('--strategy <strategy>', "BatchStrategy (choices: MultiRecord, SingleRecord, MULTI_RECORD, SINGLE_RECORD; default: the container's /execution-parameters, else MultiRecord)").argParser(
        choiceFlag('--strategy', STRATEGIES),
      ),
    )
    .option('--max-payload <MB>', 'MaxPayloadInMB per request, 0-100, fractions allowed, 0 = no limit (default: /execution-parameters, else 6)')
    .option('--max-concurrent <n>', 'MaxConcurrentTransforms: requests in flight at once, 0 = not set; × --max-payload at most 100 (default: /execution-parameters, else 1)')
    .addOption(choiceOption('--assemble-with <how>', 'how to join responses in <file>.out', ['None', 'Line']).default('None'))
    .option('--timeout <seconds>', 'per-request timeout, InvocationsTimeoutInSeconds, at most 3600', '600')
    .option('--retries <n>', 'retries after a connection error or HTTP 429/502/503/504, InvocationsMaxRetries, 0-3', '3')
    .option('--startup-timeout <seconds>', 'with --model: how long to wait for /ping, at most 3600', '120')
    .option('--env <KEY=VALUE...>', "with --model: the container's environment (repeatable), e.g. --env SAGEMAKER_MODEL_SERVER_WORKERS=2")
    .option('--no-progress', 'no progress bar (it is drawn on stderr only when stderr is a terminal)')
    .action(async (opts) => {
      const { localTransform } = await import('../../local/transform/command.js');
      await localTransform(opts);
    });
}
