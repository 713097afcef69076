import { constants, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { checkProgram, defaultProgram } from '../config/program.js';
import { counted } from '../core/counted.js';
import { ToolkitError } from '../errors/catalogue.js';
import { checkPath, invalidFlag, invalidPath, pathProblem, positiveSecondsOption } from '../config/flag-values.js';
import { isModelArchive, realLocation } from '../archive/model-archive.js';
import { packageModel } from './package.js';
import { sampleTooLarge, verifyArchive } from './verify.js';
import { runInterruptibly } from '../core/interruptible.js';

/** Flags of `smkit package`. */
export interface PackageCommandOptions {
  code?: string;
  output: string;
  program?: string;
  verify?: boolean;
  sample?: string;
  contentType?: string;
  accept?: string;
  startupTimeout: string;
}

/**
 * Refuses an `--output` the archive cannot be written to, before anything is checked or packed: one
 * that is a FIFO, socket or device (`/dev/stdout`), which the archive, renamed onto it, would
 * replace, and one whose folder cannot be made or written (a file in the way, a read-only mount).
 */
async function checkOutputFolder(output: string, existing: Stats | undefined): Promise<void> {
  const expected = 'a file name for the archive';
  if (existing !== undefined && !existing.isFile()) {
    throw invalidPath('--output', output, expected, 'is neither a file nor a directory (a FIFO, socket or device), which the archive, written beside it and renamed, would replace');
  }
  // The nearest folder of the path that exists: the rest is created there.
  let folder = path.dirname(path.resolve(output));
  for (;;) {
    const st = await fs.stat(folder).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw invalidPath('--output', output, expected, `cannot be written: ${folder} ${pathProblem(err, 'written')}`);
    });
    if (st === undefined && path.dirname(folder) !== folder) {
      folder = path.dirname(folder);
      continue;
    }
    if (st !== undefined && !st.isDirectory()) throw invalidPath('--output', output, expected, `cannot be written: ${folder} is not a folder`);
    await fs.access(folder, constants.W_OK).catch((err: unknown) => {
      throw invalidPath('--output', output, expected, `cannot be written: ${folder} ${pathProblem(err, 'written')}`);
    });
    return;
  }
}

/** Runs `smkit package`: check, archive, and with `--verify` serve the archive and invoke a sample. */
export async function packageCommand(modelDir: string, opts: PackageCommandOptions): Promise<void> {
  if (!opts.verify && (opts.sample !== undefined || opts.contentType !== undefined || opts.accept !== undefined)) {
    throw new ToolkitError('ERR_CLI_USAGE', '--sample, --content-type and --accept only apply with --verify');
  }
  // At most an hour, as smkit local --startup-timeout.
  const startupS = positiveSecondsOption('--startup-timeout', opts.startupTimeout, 3600);
  const program = opts.program !== undefined ? checkProgram(opts.program, '--program') : defaultProgram();
  checkPath('<model-dir>', modelDir, 'directory', 'the model directory');
  if (opts.code !== undefined) checkPath('--code', opts.code, 'directory', 'a folder to pack as code/');
  if (opts.sample !== undefined) {
    const sample = checkPath('--sample', opts.sample, 'file', 'the request body to send, a file');
    const why = sampleTooLarge(opts.sample, sample.size);
    if (why !== undefined) throw new ToolkitError('ERR_CLI_USAGE', `--sample ${why}`);
  }
  // `-` reads as stdout (smkit invoke -o -, curl): an archive named "-" in the current folder was not meant.
  if (opts.output === '-') {
    throw invalidFlag('--output', opts.output, "the archive's file name, such as model.tar.gz: smkit package writes a file (which --verify serves and smkit deploy uploads), not stdout");
  }
  // Stat'ed as it will be written, with `..` taken off the path first (path.resolve): the kernel
  // applies a `..` after a symbolic link to where the link leads, another file than the one replaced.
  const existing = await fs.stat(path.resolve(opts.output)).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw invalidPath('--output', opts.output, `the archive's file name, such as ${path.join(opts.output, 'model.tar.gz')}`, 'is a directory');
  }
  await checkOutputFolder(opts.output, existing);
  // An earlier archive there is replaced; any other file of the model or its code would be lost.
  if (existing !== undefined && !isModelArchive(opts.output)) {
    // Compared where they really are: either may be named through a symbolic link.
    const output = await realLocation(opts.output);
    const folders = await Promise.all([modelDir, ...(opts.code !== undefined ? [opts.code] : [])].map(async (d) => ({ d, real: await fs.realpath(d) })));
    const inside = folders.find(({ real }) => {
      const rel = path.relative(real, output);
      return rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel);
    })?.d;
    if (inside !== undefined) {
      throw new ToolkitError('ERR_CLI_USAGE', `--output ${opts.output} is a file of ${inside}, which the archive would replace; give a new file name ending in .tar.gz`);
    }
  }
  const out = (line: string): void => void process.stderr.write(`smkit: ${line}\n`);
  // Ctrl-C or SIGTERM while a large model packs: the partial archive and the staging folder are
  // removed before the signal ends the process; left to the default, both stayed behind.
  const result = await runInterruptibly((signal) => packageModel(modelDir, { ...(opts.code !== undefined ? { codeDir: opts.code } : {}), outFile: opts.output, program, signal })).catch((err: unknown) => {
    // A folder of --output that the checks above let pass but that cannot be made (ENOENT under /proc): Node's raw error and stack.
    const e = err as NodeJS.ErrnoException;
    if (e.syscall !== 'mkdir' || typeof e.path !== 'string' || !`${path.dirname(path.resolve(opts.output))}${path.sep}`.startsWith(`${e.path}${path.sep}`)) throw err;
    throw invalidPath('--output', opts.output, 'a file name for the archive', `cannot be written: ${e.path} cannot be created (${e.code})`);
  });
  const r = result.report;
  out(`checked ${modelDir}: ${r.model ? `${r.model.runtime} model ${r.model.file}` : 'no runtime model file'}${r.pipelineFile ? `, pipeline ${r.pipelineFile}` : ''}${r.handlerFile ? `, handler ${r.handlerFile} (${r.hooks.join(', ') || 'no hooks'})` : ', no handler (default handling)'}`);
  for (const w of r.warnings) out(`warning: ${w}`);
  // The archive cannot say which module is the handler: checked (and verified) under another name,
  // it is served with default handling, without a word, where SAGEMAKER_PROGRAM is not set.
  if (r.handlerFile !== undefined && program !== 'inference') {
    out(`note: the handler is ${r.handlerFile}, not code/inference.*: serve the archive with SAGEMAKER_PROGRAM=${program} in the model's environment, or smkit serve looks for code/inference.* instead`);
  }
  // An archive written into the model directory under another name (-o my-model/v1.tar.gz, then
  // -o my-model/v2.tar.gz) was packed into the next one without a word, each version holding the last.
  const archives = result.entries.filter((e) => !e.endsWith('/') && isModelArchive(e));
  if (archives.length > 0) {
    out(`warning: packed ${archives.length === 1 ? 'the model archive' : `${archives.length} model archives`} ${archives.slice(0, 3).join(', ')}${archives.length > 3 ? ', ...' : ''} into this one (an earlier smkit package output?): SageMaker leaves ${archives.length === 1 ? 'it' : 'them'} as ${archives.length === 1 ? 'a file' : 'files'} of /opt/ml/model, unextracted; remove ${archives.length === 1 ? 'it' : 'them'} from the model directory, or write archives outside it`);
  }
  out(`wrote ${result.outFile}: ${counted(result.entries.filter((e) => !e.endsWith('/')).length, 'file')}, ${counted(result.bytes, 'byte')}, sha256 ${result.sha256}`);
  if (!opts.verify) return;
  out(`verifying: serving ${result.outFile} from a temporary /opt/ml...`);
  await verifyArchive(result.outFile, {
    ...(opts.sample !== undefined ? { sample: opts.sample } : {}),
    ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
    ...(opts.accept !== undefined ? { accept: opts.accept } : {}),
    program,
    startupTimeoutMs: startupS * 1000,
    log: out,
  });
  out('verify passed');
}
