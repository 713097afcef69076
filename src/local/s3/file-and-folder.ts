import { relative, resolve, sep } from 'node:path';

/** Two of the paths a download writes: one a file where the other's path needs a folder. */
export interface FileAndFolder<T> {
  /** The item whose path is a folder of `folder`'s path. */
  readonly file: T;
  /** The item whose path goes through `file`'s. */
  readonly folder: T;
}

/** The paths seen so far as a tree of their parts: the item written at a node, and the first whose path goes through it. */
interface PathTree<T> {
  readonly children: Map<string, PathTree<T>>;
  file?: T;
  via?: T;
}

/**
 * The first two `items` of which one would be written as a file where the other's path needs a
 * folder (S3 keys `a.csv` and `a.csv/b.csv` downloaded under one folder), or undefined when there
 * are none: downloading them would fail with the file system's error (EISDIR or EEXIST, naming the
 * local folder). `pathOf` gives an item's path, its parts separated by `/`; an item whose path is
 * another's is no clash (the same key twice). One step a part of each path.
 */
export function fileWhereFolder<T>(items: Iterable<T>, pathOf: (item: T) => string): FileAndFolder<T> | undefined {
  const root: PathTree<T> = { children: new Map() };
  for (const item of items) {
    const parts = pathOf(item).split('/');
    let node = root;
    for (const [i, part] of parts.entries()) {
      let next = node.children.get(part);
      if (next === undefined) node.children.set(part, (next = { children: new Map() }));
      node = next;
      if (i === parts.length - 1) break;
      if (node.file !== undefined) return { file: node.file, folder: item };
      node.via ??= item;
    }
    if (node.via !== undefined) return { file: item, folder: node.via };
    node.file = item;
  }
  return undefined;
}

/** An S3 object and the file it is downloaded to. */
export interface KeyFile {
  readonly key: string;
  readonly file: string;
}

/**
 * Where each of `keys` is downloaded under `dir` (an absolute folder): `relOf(key)` resolved in it,
 * a key that would land outside it (`..` segments) left out; and {@link fileWhereFolder}'s first
 * two of them of which one would be a file where the other needs a folder.
 */
export function keyFiles(dir: string, keys: readonly string[], relOf: (key: string) => string): { files: KeyFile[]; clash: FileAndFolder<KeyFile> | undefined } {
  const files = keys.map((key) => ({ key, file: resolve(dir, relOf(key)) })).filter(({ file }) => file.startsWith(dir + sep));
  return { files, clash: fileWhereFolder(files, ({ file }) => relative(dir, file).split(sep).join('/')) };
}
