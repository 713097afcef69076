import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createModelArchive } from '../archive/model-archive.js';
import { sha256File } from '../fs/sha256-file.js';
import { assertValidModelDir, type ModelDirReport } from './validate.js';

/** Options for {@link packageModel}. */
export interface PackageOptions {
  /** Folder packed as `code/` instead of `<modelDir>/code`. */
  codeDir?: string;
  /** Output archive. @defaultValue `model.tar.gz` */
  outFile?: string;
  /** Handler module name (`SAGEMAKER_PROGRAM`). @defaultValue `inference` */
  program?: string;
  /** Skip importing the handler module during the checks. */
  skipHandlerImport?: boolean;
  /** Stops the packing when aborted, leaving no partial archive ({@link createModelArchive}). */
  signal?: AbortSignal;
}

/** What {@link packageModel} built. */
export interface PackageResult {
  outFile: string;
  entries: string[];
  bytes: number;
  sha256: string;
  report: ModelDirReport;
}

/** Checks a model directory ({@link assertValidModelDir}) and builds its `model.tar.gz`. */
export async function packageModel(modelDir: string, options: PackageOptions = {}): Promise<PackageResult> {
  const report = await assertValidModelDir(modelDir, {
    ...(options.codeDir !== undefined ? { codeDir: options.codeDir } : {}),
    ...(options.program !== undefined ? { program: options.program } : {}),
    importHandler: !options.skipHandlerImport,
  });
  const outFile = path.resolve(options.outFile ?? 'model.tar.gz');
  const entries = await createModelArchive(modelDir, outFile, {
    ...(options.codeDir !== undefined ? { codeDir: options.codeDir } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  // Streamed, not read whole: fs.readFile refuses files over 2 GiB, and model archives get that big.
  const [{ size }, sha256] = await Promise.all([fs.stat(outFile), sha256File(outFile)]);
  return { outFile, entries, bytes: size, sha256, report };
}
