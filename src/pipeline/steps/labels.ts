import { ToolkitError } from '../../errors/catalogue.js';
import type { StepBuildEnv } from '../step.js';
import { resolveInside } from './predict.js';
import { readBoundedFile } from '../../fs/read-bounded-file.js';

/** The most of a labels file read: 64 MiB is millions of labels; more is another file named by mistake (a model). */
export const MAX_LABELS_FILE_BYTES = 64 * 1024 * 1024;

function bad(env: StepBuildEnv, message: string): ToolkitError {
  return new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: ${message}`);
}

/**
 * Reads a step's `labels` option: a list, or a file inside the model directory (one label per
 * line, a JSON list, or a JSON index → label object). Undefined when the option is absent.
 */
export function loadLabels(env: StepBuildEnv, spec: unknown): string[] | undefined {
  if (spec === undefined) return undefined;
  if (Array.isArray(spec)) return spec.map(String);
  if (typeof spec !== 'string') throw bad(env, '"labels" must be a file path (one label per line, or a JSON list) or a list');
  let file: string;
  try {
    file = resolveInside(env.modelDir, spec, 'labels file');
  } catch {
    throw bad(env, `labels file ${spec} must be inside the model directory`);
  }
  // Bounded, and a FIFO or a device refused unopened: readFileSync of a FIFO held the load (and
  // smkit package's check, which builds the step) for good, the event loop blocked.
  const text = readBoundedFile(file, MAX_LABELS_FILE_BYTES, (problem) => bad(env, `labels file ${spec} cannot be read: ${problem}`)).toString('utf8');
  if (file.endsWith('.json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw bad(env, `labels file ${spec} is not valid JSON: ${(err as Error).message}`);
    }
    if (Array.isArray(parsed)) return parsed.map(String);
    if (parsed && typeof parsed === 'object') {
      const byIndex = parsed as Record<string, unknown>;
      return Object.keys(byIndex).sort((a, b) => Number(a) - Number(b)).map((k) => String(byIndex[k]));
    }
    throw bad(env, `labels file ${spec} must hold a JSON list or an index → label object`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}
