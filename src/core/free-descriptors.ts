import { closeSync, openSync } from 'node:fs';
import { devNull } from 'node:os';

/** Descriptors {@link hasFreeDescriptors} checks for by default: loading a package opens its files one at a time. */
export const LOAD_DESCRIPTORS = 8;

/**
 * Whether this process can open `count` more files now (it opens the null device that many times,
 * then closes them). A package is loaded only when this holds: `require` of a package whose
 * `package.json` could not be read for want of a descriptor (EMFILE) fails with MODULE_NOT_FOUND,
 * and Node keeps that manifest missing for good, so the package would never load in this process.
 */
export function hasFreeDescriptors(count = LOAD_DESCRIPTORS): boolean {
  const opened: number[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(openSync(devNull, 'r'));
    return true;
  } catch (err) {
    // Only a lack of descriptors says no; a null device that cannot be opened says nothing.
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'EMFILE' && code !== 'ENFILE';
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}
