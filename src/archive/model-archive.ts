import { constants, createWriteStream, existsSync, promises as fs, type ReadStream, type Stats } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';
import { countText } from '../errors/count-text.js';
import { makeDir } from '../fs/make-dir.js';

/** One archive entry as the pre-extraction scan sees it. */
interface ScannedEntry {
  readonly path: string;
  readonly type: string;
  readonly linkpath?: string;
}

/**
 * Longest entry path or link target the scan takes, in characters: Linux's PATH_MAX. A longer one
 * could not be extracted (ENAMETOOLONG), and a pax header may carry up to node-tar's 1 MB each.
 */
const MAX_PATH_CHARS = 4096;
/**
 * Most links (symbolic and hard) an archive may hold by default: their targets are checked once the
 * whole archive is read, so the scan keeps them, and only them (at most 80 MB with the longest paths).
 */
export const MAX_ARCHIVE_LINKS = 10_000;
/**
 * Most entries an archive may hold by default. Extracting takes memory for each entry it has read
 * and not yet written (node-tar reads on while the file system catches up: about 3 KB of heap per
 * entry, 270 MB for 100 000 empty files), however small the archive: headers compress a hundredfold.
 */
export const MAX_ARCHIVE_ENTRIES = 50_000;
/**
 * Most directory entries an archive may hold by default: each costs node-tar several file-system
 * calls and a path reservation (20 000 five deep took 39 s and 100 MB of heap on a busy 2-core VM).
 */
export const MAX_ARCHIVE_DIRECTORIES = 10_000;
/**
 * Most folder levels an archive's entries and link targets may go through in all by default (a/b/c/file counts 3):
 * node-tar (7.4.4 and later, which keeps no directory cache) creates or checks each folder of an
 * entry's path for every entry, so 2000 files 500 folders deep, a 6 KB archive, took 25 s, and
 * 10 000 files 100 deep 120 s on a busy VM. smkit's own node_modules, 25 600 entries, counts 114 000.
 */
export const MAX_ARCHIVE_FOLDER_LEVELS = 250_000;
/**
 * Most segments a link's target may have (`../../lib/x.so` has 4). node-tar, which bounds an entry's
 * path at 1024 folders, bounds no target, and works in time growing with the square of its segments
 * for each link (its path reservations): a target of 2048 (`a/a/.../z`, 4096 characters) took 1.4 s
 * a link, 10 000 such links in a 100 KB archive four hours; 256 take a few ms, and count towards the
 * folder levels in all ({@link MAX_ARCHIVE_FOLDER_LEVELS}): 900 such links, 22 KB, took 3 s.
 */
const MAX_LINK_TARGET_SEGMENTS = 256;
/**
 * Most segments an entry's path may have (`a/b/file` has 3): node-tar refuses a path of more than
 * 1024 parts half-way ('path excessively deep', a directory's trailing `/` counting as one), and the
 * symbolic links smkit makes itself, once the rest is written, must stop where it does: a 3 KB
 * archive of 124 links 1990 folders deep took 617 MB and 79 s to place.
 */
const MAX_PATH_SEGMENTS = 1023;
/**
 * Longest name of one file or folder, in UTF-8 bytes: Linux's NAME_MAX (ext4, xfs, overlayfs). A
 * longer one failed half-way with a raw ENAMETOOLONG, the entries before it written; tar fails it too.
 */
const MAX_NAME_BYTES = 255;
/** Linux's PATH_MAX: a path given to a system call has fewer bytes (its terminating null counts). */
const LINUX_PATH_MAX = 4096;
/** Unsafe entries quoted in the refusal; the rest are counted. */
const SHOWN_PROBLEMS = 5;

const REGULAR_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'GNUDumpDir']);
const LINK_TYPES = new Set(['SymbolicLink', 'Link']);
const DIRECTORY_TYPES = new Set(['Directory', 'GNUDumpDir']);
/**
 * Most symbolic links one resolution follows in all, as Linux's path lookup does (MAXSYMLINKS;
 * past it, ELOOP): counted over every branch, or links each naming the one before twice
 * (`l1` -> `l0/l0`, `l2` -> `l1/l1`, ...) took 2^n steps, 30 of them in a 500-byte archive minutes of blocked event loop.
 */
const MAX_LINK_HOPS = 40;

/** Splits an archive path into its segments, treating `\` as a separator too (Windows-made tarballs). */
function segments(p: string): string[] {
  return p.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
}

function isAbsoluteLike(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[a-zA-Z]:/.test(p);
}

/**
 * Resolves `target` (segments relative to the archive root) against the symlinks the archive itself
 * creates, the way the OS would after extraction. Returns undefined when the walk leaves the root or
 * follows more than {@link MAX_LINK_HOPS} links (`followed` counts them over the whole resolution).
 * Which folder of the walk is a link is a step down `links` a segment: looking each up by its path
 * joined took time growing with the square of its segments, 41 times over for a target through 40
 * links (2 s a link 2030 folders deep, and 120 such links fit the folder levels' bound).
 */
function resolveInTree(target: readonly string[], links: LinkTree, followed = { links: 0 }): string[] | undefined {
  const out: string[] = [];
  // nodes[i]: the node of `links` for out's first i segments, undefined once no link lies below.
  const nodes: (LinkTree | undefined)[] = [links];
  for (const seg of target) {
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      nodes.pop();
      continue;
    }
    const node = nodes[nodes.length - 1]?.children.get(seg);
    out.push(seg);
    nodes.push(node);
    if (node?.link !== undefined) {
      if (isAbsoluteLike(node.link) || ++followed.links > MAX_LINK_HOPS) return undefined;
      const viaLink = resolveInTree([...out.slice(0, -1), ...segments(node.link)], links, followed);
      if (viaLink === undefined) return undefined;
      out.splice(0, out.length, ...viaLink);
      nodes.splice(1, nodes.length);
      for (const s of viaLink) nodes.push(nodes[nodes.length - 1]?.children.get(s));
    }
  }
  return out;
}

/**
 * The paths of an archive's symbolic links as a tree of their segments, a link's node holding its
 * target: which folder of a path is a link takes one step a segment, where looking up each of its
 * folders by its path joined took time growing with the square of its segments (35 ms an entry 2040
 * deep, a 65 KB archive of 2000 such entries 70 s).
 */
interface LinkTree {
  readonly children: Map<string, LinkTree>;
  link?: string;
}

/** Marks the path `segs` as a symbolic link to `target` in `tree`. */
function addLink(tree: LinkTree, segs: readonly string[], target: string): void {
  let node = tree;
  for (const seg of segs) {
    let next = node.children.get(seg);
    if (next === undefined) node.children.set(seg, (next = { children: new Map() }));
    node = next;
  }
  node.link = target;
}

/** A path as a file system that tells neither upper from lower case nor Unicode forms apart (macOS's) sees it. */
function foldName(p: string): string {
  return p.normalize('NFKC').toUpperCase().toLowerCase();
}

/** Unmarks the path `segs` as a symbolic link in `tree`: another entry replaced it. */
function removeLink(tree: LinkTree, segs: readonly string[]): void {
  let node: LinkTree | undefined = tree;
  for (const seg of segs) {
    node = node.children.get(seg);
    if (node === undefined) return;
  }
  delete node.link;
}

/** The first folder of the path `segs` that is a symbolic link in `tree`, or undefined. */
function linkOnTheWay(segs: readonly string[], tree: LinkTree): string | undefined {
  let node: LinkTree | undefined = tree;
  for (let i = 0; i < segs.length - 1; i++) {
    node = node.children.get(segs[i]!);
    if (node === undefined) return undefined;
    if (node.link !== undefined) return segs.slice(0, i + 1).join('/');
  }
  return undefined;
}

/** The first folder of the path `segs`, or the path itself, that is a symbolic link in `tree`, or undefined. */
function linkAlong(segs: readonly string[], tree: LinkTree): string | undefined {
  let node: LinkTree | undefined = tree;
  for (let i = 0; i < segs.length; i++) {
    node = node.children.get(segs[i]!);
    if (node === undefined) return undefined;
    if (node.link !== undefined) return segs.slice(0, i + 1).join('/');
  }
  return undefined;
}

/**
 * Returns why the entry is unsafe on its own, or undefined when it is fine: everything but where a
 * link's target leads, which needs the archive's other links (see {@link linkRefusal}). `symlinks`
 * are those of the entries before it: an entry is written through a link only if the link was made
 * first (an entry before it is written into a real folder, which the link then cannot replace).
 */
function refusal(entry: ScannedEntry, symlinks: LinkTree): string | undefined {
  if (entry.path.length > MAX_PATH_CHARS) return `a path of ${entry.path.length} characters, more than the ${MAX_PATH_CHARS} a path may have`;
  if ((entry.linkpath?.length ?? 0) > MAX_PATH_CHARS) return `a link target of ${entry.linkpath!.length} characters, more than the ${MAX_PATH_CHARS} a path may have`;
  if (isAbsoluteLike(entry.path)) return 'absolute path';
  const segs = segments(entry.path);
  if (segs.includes('..')) return "path contains a '..' segment";
  if (segs.length > MAX_PATH_SEGMENTS) return `a path of ${segs.length} segments, more than the ${MAX_PATH_SEGMENTS} smkit extracts`;
  const long = segs.find((s) => Buffer.byteLength(s) > MAX_NAME_BYTES);
  if (long !== undefined) return `the name "${excerpt(long, 60)}" of ${Buffer.byteLength(long)} bytes, more than the ${MAX_NAME_BYTES} a file or folder name may have on Linux`;
  if (segs.length === 0 && entry.type !== 'Directory') return 'empty path';
  const through = linkOnTheWay(segs, symlinks);
  if (through !== undefined) return `path goes through the symbolic link ${through}`;
  if (LINK_TYPES.has(entry.type)) {
    const target = entry.linkpath ?? '';
    if (target === '') return 'link without a target';
    if (isAbsoluteLike(target)) return `link to the absolute path ${target}`;
    const depth = target.split(/[\\/]+/).length;
    if (depth > MAX_LINK_TARGET_SEGMENTS) return `a link target of ${depth} segments, more than the ${MAX_LINK_TARGET_SEGMENTS} smkit extracts`;
    // The check reads \ as a folder separator, as archives made on Windows use it; Linux and macOS
    // read it as part of a name, so `x\x\x/../../..` (one folder down, three up) led out of the tree.
    if (entry.type === 'SymbolicLink' && target.includes('\\')) return `symbolic link to ${target}, a target with a backslash (\\), which Linux reads as part of a name where Windows reads a folder separator: use /`;
    if (entry.type === 'Link') {
      // node-tar refuses both half-way. A hard link to a symbolic link is a second link with the same
      // target, which resolves from the hard link's own folder: `d/e/l -> ../../x` linked as `h` leads two folders up.
      if (segments(target).includes('..')) return `hard link to ${target}, a path with a '..' segment: name the file by its path from the archive's root`;
      const via = linkAlong(segments(target), symlinks);
      if (via !== undefined) return `hard link to ${target}, ${via === segments(target).join('/') ? 'a symbolic link' : `through the symbolic link ${via}`} of the archive: hard-link the file itself`;
    }
    return undefined;
  }
  if (!REGULAR_TYPES.has(entry.type)) return `${entry.type} entries are not allowed`;
  return undefined;
}

/**
 * Returns why a link is unsafe once every symbolic link of the archive is known: its target leads
 * outside the tree, or through more links than Linux follows (a loop).
 */
function linkRefusal(entry: ScannedEntry, links: LinkTree): string | undefined {
  const target = entry.linkpath!;
  // Symlink targets are relative to the link's folder; hardlink targets to the archive root.
  const base = entry.type === 'SymbolicLink' ? segments(entry.path).slice(0, -1) : [];
  const followed = { links: 0 };
  if (resolveInTree([...base, ...segments(target)], links, followed) !== undefined) return undefined;
  if (followed.links > MAX_LINK_HOPS) return `link to ${target}, which leads through more than ${MAX_LINK_HOPS} symbolic links of the archive (a loop; Linux follows no more: ELOOP)`;
  return `link to ${target}, outside the archive`;
}

/** The unsafe entries a scan found: the first few quoted, the rest counted. */
class Problems {
  readonly shown: string[] = [];
  count = 0;

  add(entryPath: string, why: string): void {
    this.count++;
    if (this.shown.length < SHOWN_PROBLEMS) this.shown.push(`"${excerpt(entryPath, 200)}" (${why})`);
  }

  toString(): string {
    return this.shown.join('; ') + (this.count > this.shown.length ? `; and ${this.count - this.shown.length} more` : '');
  }
}

/** What the scan bounds: see {@link ExtractArchiveOptions}. */
interface ScanLimits {
  maxBytes: number;
  /** Most bytes an entry's path may have: what the folder extracted into leaves of Linux's PATH_MAX. */
  maxPathBytes: number;
  maxLinks: number;
  maxEntries: number;
  maxDirectories: number;
  maxFolderLevels: number;
}

/** Why the scan stopped before the archive's end. */
type ScanStop = 'too large' | 'too many links' | 'too many entries' | 'too many directories' | 'too deep in all';

/**
 * Reads every entry header of `tarPath` as it streams by and refuses the archive when an entry is
 * unsafe (`ERR_ARCHIVE_UNSAFE`), when its files take more than `maxBytes` (`ERR_ARCHIVE_TOO_LARGE`,
 * at the header that passes it, so a bomb is neither written nor decompressed to its end), or when
 * it holds more links, entries, directory entries or folder levels than its limits (what extracting
 * it would cost in memory and time). Only links are kept (their targets are checked at the end,
 * against all of them), so memory does not grow with the number of entries.
 */
async function scanArchive(tarPath: string, limits: ScanLimits, room: string, signal?: AbortSignal): Promise<{ end: number; entries: number; seen: readonly string[] }> {
  const { maxBytes, maxPathBytes, maxLinks, maxEntries, maxDirectories, maxFolderLevels } = limits;
  const tar = await import('tar');
  const problems = new Problems();
  const links: ScannedEntry[] = [];
  const symlinkTree: LinkTree = { children: new Map() };
  // The symbolic links' paths by their folded form (see foldName), both as short hashes: NFKC makes
  // a character up to 18 (U+FDFA), so 10 000 links of 4096 such characters held 800 MB of names.
  const linkNames = new Map<string, string>();
  // The files (and hard links) extracted so far, by fileKey, and the hard links to anything else.
  const files = new Set<string>();
  const broken = new Problems();
  // Entries no extraction can write: a file's path used as a folder by a later entry, or a file
  // where an earlier folder holds entries. node-tar (as tar) failed them half-way with a raw EEXIST
  // or ENOTEMPTY, the entries before them written. Both sets hold chained keys (pathKeys), bounded
  // by the entries and the folder levels in all.
  const clashes = new Problems();
  const notFolders = new Set<string>();
  const heldFolders = new Set<string>();
  // Each entry's digest (entryDigest), in order: the extraction takes only these entries.
  const seen: string[] = [];
  // Whether the last pax header gave GNU tar's sparse keys to the entry after it.
  let sparseNext = false;
  let count = 0;
  let lastPath = '';
  let bytes = 0;
  let directories = 0;
  let linkEntries = 0;
  let levels = 0;
  let stop: ScanStop | undefined;
  const data = await openTar(tarPath);
  const onAbort = (): void => void data.stream.destroy(signal!.reason as Error);
  signal?.addEventListener('abort', onAbort, { once: true });
  // Where the archive ends, in tar bytes: extracting reads no further.
  let end = Number.POSITIVE_INFINITY;
  try {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const parser = new tar.Parser({
        strict: true,
        onReadEntry: (e) => {
          e.resume();
          // The pax header before it gave GNU tar's sparse keys (see the 'meta' listener below).
          const sparseKeys = sparseNext;
          sparseNext = false;
          if (stop) return;
          count++;
          seen.push(entryDigest(e));
          lastPath = excerpt(e.path, 200);
          if (e.type !== 'Directory') bytes += e.size;
          if (bytes > maxBytes) {
            stop = 'too large';
            return parser.abort(new Error(stop));
          }
          // Every entry counts, an unsafe one too: the scan reads it all the same (an archive of
          // millions of tiny unsafe entries, a few MB, took tens of seconds to find them all).
          if (count > maxEntries) {
            stop = 'too many entries';
            return parser.abort(new Error(stop));
          }
          const entry: ScannedEntry = { path: e.path, type: e.type, ...(e.linkpath ? { linkpath: e.linkpath } : {}) };
          const isDirectory = DIRECTORY_TYPES.has(entry.type);
          const isLink = LINK_TYPES.has(entry.type);
          // Unsafe ones count too, as towards maxEntries: the limits are on what the archive holds.
          if (isDirectory && ++directories > maxDirectories) stop = 'too many directories';
          else if (isLink && ++linkEntries > maxLinks) stop = 'too many links';
          if (stop) return parser.abort(new Error(stop));
          const why = refusal(entry, symlinkTree);
          if (why) return problems.add(entry.path, why);
          // GNU tar's pax sparse format (1.0, what tar --sparse --format=posix writes) names the
          // entry GNUSparseFile.<pid>/<name>, its data a sparse map, and the real name and size in
          // pax keys that node-tar drops: extracted as that folder and file, the model's file was missing.
          const sparse = segments(entry.path).find((seg) => /^GNUSparseFile\.\d+$/.test(seg));
          if (sparseKeys && !DIRECTORY_TYPES.has(entry.type)) clashes.add(entry.path, `a sparse file in GNU tar's pax format 0.0 (its pax header has GNU.sparse keys; it holds only the file's data, not its holes), which smkit does not extract: pack it without --sparse (-S), or with smkit package`);
          else if (sparse !== undefined && !DIRECTORY_TYPES.has(entry.type)) clashes.add(entry.path, `a sparse file in GNU tar's pax format (${sparse}/ holds its map, not its bytes), which smkit does not extract: pack it without --sparse (-S), or with smkit package`);
          // A hard link links to a file already extracted: to nothing, to a folder or to a file that
          // comes after it, it failed half-way with the raw ENOENT or EPERM of link(2).
          const key = fileKey(entry.path);
          if (entry.type === 'Link') {
            const target = fileKey(entry.linkpath!);
            if (target === key || !files.has(target)) broken.add(entry.path, `hard link to ${entry.linkpath}, which is not a file the archive holds before it: a hard link names a file extracted before it`);
          }
          if (isDirectory) files.delete(key);
          else if (entry.type !== 'SymbolicLink') files.add(key);
          const segs = segments(entry.path);
          const keys = pathKeys(segs);
          const pathBytes = Buffer.byteLength(segs.join('/'));
          if (pathBytes > maxPathBytes) clashes.add(entry.path, `a path of ${pathBytes} bytes, which the folder extracted into leaves no room for: Linux takes at most ${LINUX_PATH_MAX - 1} bytes in a path, and ${maxPathBytes} are left under it (tar: File name too long); extract into a folder with a shorter path, or use shorter names`);
          const under = keys.slice(0, -1).findIndex((k) => notFolders.has(k));
          if (under !== -1) clashes.add(entry.path, `its folder ${segs.slice(0, under + 1).join('/')} is a file (or link) of the archive before it, which no extraction can make a folder (tar: Not a directory): rename one of them`);
          else if (!isDirectory && keys.length > 0 && heldFolders.has(keys[keys.length - 1]!)) clashes.add(entry.path, `a ${entry.type === 'SymbolicLink' ? 'symbolic link' : 'file'} where the archive has a folder holding entries before it, which no extraction can replace (tar: File exists): rename one of them`);
          for (const k of keys.slice(0, -1)) heldFolders.add(k);
          if (keys.length > 0) {
            if (isDirectory) notFolders.delete(keys[keys.length - 1]!);
            else notFolders.add(keys[keys.length - 1]!);
          }
          // What extracting costs: memory per entry, file-system calls per directory entry and per
          // folder of each entry's path (created or checked for every entry under it), and of a
          // link's target (node-tar reserves each of them too).
          levels += segments(entry.path).length - (isDirectory ? 0 : 1) + (entry.linkpath === undefined ? 0 : Math.max(0, segments(entry.linkpath).length - 1));
          if (levels > maxFolderLevels) {
            stop = 'too deep in all';
            return parser.abort(new Error(stop));
          }
          // Any other entry at a symbolic link's path replaces it (the links are made last, and only
          // those no later entry replaced): the links' targets are resolved against those that stay
          // (`a -> sub/deeper` replaced by a folder `a/` makes `s -> a/../..` lead out of the tree).
          if (entry.type === 'SymbolicLink') {
            // On a file system that tells neither case nor Unicode forms apart (macOS), a link
            // named as another but for those replaces it, where the check would follow both:
            // a -> sub/deeper, then A -> ., let s -> a/../.. out of the tree there.
            const key = segments(entry.path).join('/');
            const folded = shortHash(foldName(key));
            const other = linkNames.get(folded);
            if (other !== undefined && other !== shortHash(key)) return problems.add(entry.path, `a symbolic link named as another link of the archive but for upper and lower case or Unicode form, which a file system such as macOS's makes one link: rename one`);
            linkNames.set(folded, shortHash(key));
            addLink(symlinkTree, segments(entry.path), entry.linkpath!);
          } else removeLink(symlinkTree, segments(entry.path));
          if (isLink) links.push(entry);
        },
      });
      // Entries node-tar skips without a word, neither given to onReadEntry nor extracted: those of a
      // type it does not know, a GNU sparse file ('S', what tar --sparse writes in its gnu format)
      // among them, so the model's file was missing once extracted, where tar and SageMaker extract it.
      parser.on('ignoredEntry', (e: { meta?: boolean; type: string; path: string }) => {
        // A volume label (tar -V) names the archive, not a file: tar does not extract it either.
        if (stop || e.meta || e.type === 'TapeVolumeHeader') return;
        clashes.add(e.path, e.type === 'SparseFile' ? 'a sparse file (tar --sparse), which smkit does not extract: pack it without --sparse (-S), or with smkit package' : `an entry of the type ${e.type}, which smkit does not extract: pack the file as a regular one (smkit package does)`);
      });
      // GNU tar's pax sparse format 0.0 (tar --sparse --sparse-version=0.0 --format=posix) keeps the
      // file's name and gives its map only in GNU.sparse.* keys, which node-tar drops: it extracted
      // the data without the holes, a shorter, wrong file. Only the raw pax records show them.
      parser.on('meta', (meta: string) => {
        if (/^\d+ GNU\.sparse\./m.test(meta)) sparseNext = true;
      });
      parser.on('error', reject);
      parser.on('end', resolve);
      // The end-of-archive blocks: what follows is never extracted, and node-tar would keep it all.
      parser.on('eof', () => {
        end = data.taken();
        data.stream.unpipe(parser);
        data.close();
        resolve();
      });
      data.stream.on('error', reject);
      data.stream.pipe(parser);
    });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    // A stop before the archive's end: the unsafe entries before it are named too, so that one rebuild mends both.
    const unsafe = problems.count > 0 ? ` ${problems.count === 1 ? 'Unsafe entry' : 'Unsafe entries'} before it: ${problems.toString()}.` : '';
    const unsafeDetails = problems.count > 0 ? { details: { entries: problems.shown, unsafeEntries: problems.count } } : undefined;
    if (stop === 'too large') {
      // The bytes counted so far (at least what the files take) and the bound, for a caller that can make room.
      throw new ToolkitError('ERR_ARCHIVE_TOO_LARGE', `refusing to extract ${tarPath}: its files take more than ${maxBytes} bytes (${bytes} by entry ${count}, "${lastPath}"), ${room}. Nothing was extracted; free disk space or make the model smaller.${unsafe}`, {
        details: { ...unsafeDetails?.details, atLeastBytes: bytes, maxBytes },
      });
    }
    if (stop === 'too many links') {
      throw new ToolkitError('ERR_ARCHIVE_UNSAFE', `refusing to extract ${tarPath}: it holds more than ${countText(maxLinks)} symbolic or hard links (entry ${count}, "${lastPath}"), more than smkit checks. Nothing was extracted; store the files the links point to instead (smkit package does).${unsafe}`, unsafeDetails);
    }
    if (stop === 'too many entries') {
      throw new ToolkitError(
        'ERR_ARCHIVE_UNSAFE',
        `refusing to extract ${tarPath}: it holds more than ${countText(maxEntries)} entries (entry ${count}, "${lastPath}"), more than smkit extracts (each takes memory while the extraction runs). Nothing was extracted; pack small files together (a zip or npz of them), or leave out what the model does not need.${unsafe}`,
        unsafeDetails,
      );
    }
    if (stop === 'too many directories') {
      throw new ToolkitError('ERR_ARCHIVE_UNSAFE', `refusing to extract ${tarPath}: it holds more than ${countText(maxDirectories)} directory entries (entry ${count}, "${lastPath}"), more than smkit extracts (each costs several file-system calls). Nothing was extracted; use fewer folders, or leave out what the model does not need.${unsafe}`, unsafeDetails);
    }
    if (stop === 'too deep in all') {
      throw new ToolkitError('ERR_ARCHIVE_UNSAFE', `refusing to extract ${tarPath}: its entries' paths and link targets go through more than ${countText(maxFolderLevels)} folders in all (by entry ${count}, "${lastPath}"; a/b/c/file counts 3, each folder being created or checked for every entry under it), more than smkit extracts. Nothing was extracted; use shallower folders, or fewer files in deep ones.${unsafe}`, unsafeDetails);
    }
    if (err instanceof RatioExceeded) {
      // Only a file of nearly all zeros compresses this much (gzip's most is about 1030:1): say how to pack one.
      throw new ToolkitError(
        'ERR_ARCHIVE_INVALID',
        `refusing to extract ${tarPath}: it decompresses to more than ${MAX_DECOMPRESSION_RATIO} times its own size (${err.tarBytes} bytes from its first ${err.gzippedBytes}), the ratio of a gzip bomb. Nothing was extracted. Model files compress that much only when they are almost all zeros (zero-filled or sparse weights): gzip such a model with less compression (tar -cf - -C model . | gzip -1 > model.tar.gz shrinks zeros about 230 times), or leave those files out and create them when the model loads`,
        { cause: err },
      );
    }
    if (err instanceof CompressedTar) {
      // Undecompressed bytes that start as gzip are gunzipped above: only zstd is left.
      const fix = err.gzipped ? 'gunzip it once, or pack it again with smkit package' : 'gzip the tar instead (zstd -dc <file> | gzip > model.tar.gz), or pack it again with smkit package';
      throw new ToolkitError('ERR_ARCHIVE_INVALID', `refusing to extract ${tarPath}: ${err.message}. Nothing was extracted. A model archive is a tar archive gzipped once (what SageMaker's ModelDataUrl takes): ${fix}`, { cause: err });
    }
    throw new ToolkitError('ERR_ARCHIVE_INVALID', `${tarPath} is not a readable tar or tar.gz archive: ${(err as Error).message}`, { cause: err });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    data.close();
  }
  for (const link of links) {
    const why = linkRefusal(link, symlinkTree);
    if (why) problems.add(link.path, why);
  }
  if (problems.count > 0) {
    throw new ToolkitError('ERR_ARCHIVE_UNSAFE', `refusing to extract ${tarPath}: ${problems.count === 1 ? 'unsafe entry' : 'unsafe entries'} ${problems.toString()}. Nothing was extracted; rebuild the archive with relative paths inside the model folder (smkit package does).`, {
      details: { entries: problems.shown, unsafeEntries: problems.count },
    });
  }
  if (clashes.count > 0) {
    throw new ToolkitError('ERR_ARCHIVE_INVALID', `refusing to extract ${tarPath}: ${clashes.count === 1 ? 'an entry' : 'entries'} that cannot be written, ${clashes.toString()}. Nothing was extracted.`, {
      details: { entries: clashes.shown, clashingEntries: clashes.count },
    });
  }
  if (broken.count > 0) {
    throw new ToolkitError('ERR_ARCHIVE_INVALID', `refusing to extract ${tarPath}: ${broken.count === 1 ? 'a broken hard link' : 'broken hard links'} ${broken.toString()}. Nothing was extracted; put each file before the links to it (tar does), or pack the model again with smkit package, which stores every file whole.`, {
      details: { entries: broken.shown, brokenLinks: broken.count },
    });
  }
  return { end, entries: count, seen };
}

/** What the scan checked of an entry, as a short key: its type, path, link target and size. */
function entryDigest(e: { type: string; path: string; linkpath?: string | undefined; size?: number | undefined }): string {
  return createHash('sha256').update(`${e.type}\0${e.path}\0${e.linkpath ?? ''}\0${e.size ?? 0}`).digest('base64').slice(0, 22);
}

/**
 * The keys of a path's prefixes (`a`, `a/b`, `a/b/c` for a/b/c), each the hash of the one before
 * and a segment: hashing each prefix joined took time growing with the square of its segments.
 */
function pathKeys(segs: readonly string[]): string[] {
  const keys: string[] = [];
  let key = '';
  for (const seg of segs) keys.push((key = shortHash(`${key}\0${seg}`)));
  return keys;
}

/** An archive path as a short key (its segments, hashed: the scan keeps one for each file, whose path may have 4096 characters). */
function fileKey(p: string): string {
  return shortHash(segments(p).join('/'));
}

/** A string as 22 characters (132 bits of its SHA-256). */
function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('base64').slice(0, 22);
}

/** Most bytes a gzipped archive may decompress to for each of its own: node-tar's bound (a gzip bomb's ratio), which smkit applies as it decompresses itself. */
const MAX_DECOMPRESSION_RATIO = 1000;

/** A gzipped archive that decompressed past {@link MAX_DECOMPRESSION_RATIO}: how far it got. */
class RatioExceeded extends Error {
  constructor(
    readonly tarBytes: number,
    readonly gzippedBytes: number,
  ) {
    super(`max decompression ratio exceeded: more than ${MAX_DECOMPRESSION_RATIO} times the archive's own size`);
  }
}

/**
 * What node-tar's parser decompresses itself when the bytes it is given start with it: after
 * smkit's gunzip, gzip again (a .tar.gz gzipped twice, decompressed without smkit's ratio bound:
 * 209 bytes gave 1 MB) or zstd (on Node 20, which has no zstd, an uncaught TypeError that ended the
 * process). Neither is the tar or tar.gz SageMaker's `ModelDataUrl` takes.
 */
const NESTED_COMPRESSION: readonly { readonly name: string; readonly magic: Buffer }[] = [
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b]) },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
];

/** Tar bytes that start as a compressed stream does (see {@link NESTED_COMPRESSION}). */
class CompressedTar extends Error {
  constructor(
    readonly format: string,
    readonly gzipped: boolean,
  ) {
    super(gzipped ? `what it decompresses to is ${format} data again, not a tar archive` : `it is ${format}-compressed, not a tar or tar.gz archive`);
  }
}

/** An archive's tar bytes as they stream, and how many have gone by. */
interface TarData {
  readonly stream: Readable;
  taken(): number;
  /** Stops reading (and decompressing) the file. */
  close(): void;
}

/**
 * The tar bytes of `tarPath`, gunzipped here when it is gzipped, and no more than `limit` of them.
 * smkit decompresses so that reading can stop where the archive ends: node-tar reads on to the end
 * of the file and keeps what follows the archive's end in one buffer that it copies whole for each
 * chunk that arrives, so a small .tar.gz with 20 MB of zeros after its end took 9 s to extract, one
 * with 80 MB over two minutes, and one with 2 GB (8.7 MB gzipped) had not finished after ten.
 */
async function openTar(tarPath: string, limit = Number.POSITIVE_INFINITY): Promise<TarData> {
  const head = Buffer.alloc(2);
  // Non-blocking, and read from the file checked: opening a FIFO waited for a writer for good (a
  // multi-model TargetModel naming one held its invocation, and a thread of libuv's pool, forever).
  const file = await fs.open(tarPath, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((err: Error) => {
    throw new ToolkitError('ERR_ARCHIVE_INVALID', `${tarPath} cannot be read: ${err.message}`, { cause: err });
  });
  let source: ReadStream;
  try {
    const st = await file.stat();
    if (!st.isFile()) throw new ToolkitError('ERR_ARCHIVE_INVALID', `${tarPath} is not a tar or tar.gz archive: it is ${notAFile(st)}, not a file`);
    await file.read(head, 0, 2, 0);
    source = file.createReadStream({ start: 0 });
  } catch (err) {
    await file.close();
    throw err;
  }
  const gunzip = head[0] === 0x1f && head[1] === 0x8b ? createGunzip() : undefined;
  let taken = 0;
  // The first bytes of the tar data, until there are enough to tell a compressed stream by them.
  let lead = Buffer.alloc(0);
  const close = () => {
    source.destroy();
    gunzip?.destroy();
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (taken >= limit) return done();
      const piece = chunk.length > limit - taken ? chunk.subarray(0, limit - taken) : chunk;
      if (lead.length < 4) {
        lead = Buffer.concat([lead, piece.subarray(0, 4 - lead.length)]);
        const nested = NESTED_COMPRESSION.find((c) => lead.length >= c.magic.length && lead.subarray(0, c.magic.length).equals(c.magic));
        if (nested) return done(new CompressedTar(nested.name, gunzip !== undefined));
      }
      taken += piece.length;
      if (gunzip && taken > MAX_DECOMPRESSION_RATIO * Math.max(source.bytesRead, 1)) return done(new RatioExceeded(taken, source.bytesRead));
      done(null, piece);
      if (taken >= limit) {
        this.push(null);
        close();
      }
    },
  });
  source.on('error', (err) => stream.destroy(err));
  gunzip?.on('error', (err) => stream.destroy(err));
  (gunzip ? source.pipe(gunzip) : source).pipe(stream);
  return { stream, taken: () => taken, close };
}

/** What a path that is not a regular file is, for a message. */
function notAFile(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/** The bytes free to an unprivileged writer on the filesystem that holds (or will hold) `dir`. */
async function freeBytesAt(dir: string): Promise<number> {
  let at = path.resolve(dir);
  for (;;) {
    const stats = await fs.statfs(at).catch(() => undefined);
    // A filesystem that reports no size at all (blocks 0: procfs, some FUSE ones) bounds nothing.
    if (stats) return stats.blocks === 0 ? Number.POSITIVE_INFINITY : stats.bavail * stats.bsize;
    const parent = path.dirname(at);
    // No folder of the path exists (or none can be read): no bound here; the extraction finds out.
    if (parent === at) return Number.POSITIVE_INFINITY;
    at = parent;
  }
}

/** True when `path` names a model archive by its file name (`.tar.gz` or `.tgz`). */
export function isModelArchive(path: string): boolean {
  return /\.(tar\.gz|tgz)$/i.test(path);
}

/** Options of {@link extractModelArchive}. */
export interface ExtractArchiveOptions {
  /** Most bytes the archive's files may take once extracted. @defaultValue the space free on the filesystem of `destDir` */
  maxBytes?: number;
  /** Most symbolic and hard links the archive may hold, unsafe ones included. @defaultValue {@link MAX_ARCHIVE_LINKS} */
  maxLinks?: number;
  /** Most entries of any kind the archive may hold, unsafe ones included. @defaultValue {@link MAX_ARCHIVE_ENTRIES} */
  maxEntries?: number;
  /** Most directory entries the archive may hold, unsafe ones included. @defaultValue {@link MAX_ARCHIVE_DIRECTORIES} */
  maxDirectories?: number;
  /** Most folder levels its entries' paths and link targets may go through in all (a/b/c/file counts 3). @defaultValue {@link MAX_ARCHIVE_FOLDER_LEVELS} */
  maxFolderLevels?: number;
  /**
   * Stops the check or the extraction when aborted (the multi-model load of a stopped instance):
   * reading the archive stops at once and the call rejects with the signal's reason once the file
   * being written is closed; what was extracted so far stays in `destDir`, for the caller to remove.
   */
  signal?: AbortSignal;
}

/**
 * Extracts a SageMaker `model.tar.gz` (or plain tar) into `destDir`, safely.
 *
 * Every entry is checked before anything is written: absolute paths, `..` segments, paths or link
 * targets over 4096 characters, names over 255 bytes, paths that go through a symbolic link an earlier entry made,
 * symbolic or hard links whose target resolves outside the tree (following the archive's own
 * links) or has more than 256 segments, hard links to or through a symbolic link of the archive or with a `..` segment,
 * and device, FIFO or other special entries are refused with `ERR_ARCHIVE_UNSAFE` naming
 * the offending entries, as is an archive of more than `maxLinks` links, `maxEntries` entries,
 * `maxDirectories` directory entries or `maxFolderLevels` folder levels in all (what extracting it
 * would cost: memory per entry, file-system calls per folder); the check
 * streams, keeping only the links; an archive whose files would take more
 * than `maxBytes` (the space free there) with `ERR_ARCHIVE_TOO_LARGE`, and one that decompresses
 * more than 1000 times (the limit node-tar sets, a gzip bomb's ratio), or that is gzipped twice or
 * zstd-compressed, or that is not a file (a folder, a FIFO: never opened blocking), or that holds an
 * entry no extraction can write (`a` then `a/b`; `a/b` then a file `a`), with `ERR_ARCHIVE_INVALID`;
 * nothing after the end-of-archive blocks is read. Symbolic links are made last, as GNU tar
 * delays them, so links to links and through linked folders extract. When
 * refused, nothing is written, not even `destDir`. An entry that cannot be written (`x`, then
 * `x/y`) fails the extraction with `ERR_ARCHIVE_INVALID` once the entries being written are closed:
 * what was extracted so far stays in `destDir`, for the caller to remove, and nothing more is
 * written. Ownership is never restored from the archive.
 *
 * @example
 * await extractModelArchive('model.tar.gz', path.join(tmp, 'model'));
 */
export async function extractModelArchive(tarPath: string, destDir: string, options: ExtractArchiveOptions = {}): Promise<void> {
  const maxBytes = options.maxBytes ?? (await freeBytesAt(destDir));
  const limits: ScanLimits = {
    maxBytes,
    // node-tar writes each entry at its path joined to the folder's: a longer one failed half-way (ENAMETOOLONG).
    maxPathBytes: LINUX_PATH_MAX - 1 - Buffer.byteLength(path.resolve(destDir)) - 1,
    maxLinks: options.maxLinks ?? MAX_ARCHIVE_LINKS,
    maxEntries: options.maxEntries ?? MAX_ARCHIVE_ENTRIES,
    maxDirectories: options.maxDirectories ?? MAX_ARCHIVE_DIRECTORIES,
    maxFolderLevels: options.maxFolderLevels ?? MAX_ARCHIVE_FOLDER_LEVELS,
  };
  const { signal } = options;
  const { end, entries, seen } = await scanArchive(tarPath, limits, options.maxBytes === undefined ? `the space free where it would be extracted (${destDir})` : 'the most it may take', signal);
  const tar = await import('tar');
  signal?.throwIfAborted();
  await fs.mkdir(destDir, { recursive: true });
  // The end blocks alone (createModelArchive's archive of an empty folder, a training job's empty
  // /opt/ml/model): an empty folder, as tar extracts it; node-tar fails it, 'Unrecognized archive format'.
  if (entries === 0) return;
  const data = await openTar(tarPath, end);
  // Symbolic links are made once every other entry is written, as GNU tar delays those it cannot
  // trust: node-tar refuses (TAR_SYMLINK_ERROR, half-way) a link whose target goes through a link
  // already extracted, so a library's version chain (libx.so -> libx.so.1 -> libx.so.1.0) or a
  // venv's lib64 -> lib failed where tar, and SageMaker, extract them. The scan has checked each
  // target, and refused every entry written through a link. By path, the last entry wins, as in tar.
  const symlinks = new Map<string, string>();
  // The archive is opened again: one rewritten since the check (a process still writing it, or
  // swapping it) could hold entries it never saw. Each entry is compared with the one the check
  // read at its place before it is written, and from the first that differs nothing more is.
  let index = 0;
  let changed: string | undefined;
  const filter = (p: string, entry: unknown): boolean => {
    const read = entry as { type: string; path: string; linkpath?: string; size?: number; ignore?: boolean };
    // Entries node-tar skips (unknown types) the check never saw either.
    if (read.ignore) return false;
    if (changed !== undefined) return false;
    if (seen[index++] !== entryDigest(read)) {
      changed = excerpt(p, 200);
      return false;
    }
    const key = segments(p).join('/');
    symlinks.delete(key);
    const { type, linkpath } = entry as { type?: string; linkpath?: string };
    if (type !== 'SymbolicLink') return true;
    symlinks.set(key, linkpath!);
    return false;
  };
  const unpack = tar.x({ cwd: destDir, strict: true, preserveOwner: false, preservePaths: false, filter });
  // The input is cut off and ended, not aborted: node-tar then ends the entry it is writing as a
  // truncated one and closes its file, where unpack.abort() leaves that file open for good (its
  // space held once the caller removes it). The call settles once every file is closed.
  const onAbort = (): void => {
    data.stream.unpipe(unpack);
    data.close();
    unpack.end();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      // The first failure (an entry node-tar could not write: `x` then `x/y`) cuts the input off as
      // an abort does, and the call rejects once node-tar has closed every file: it goes on with the
      // entries after one it could not write, so a call that rejected at once left it writing into
      // the folder its caller was removing (which then failed, ENOTEMPTY, and stayed).
      let failure: Error | undefined;
      const fail = (err: Error): void => {
        // After these node-tar never closes, so there is nothing to wait for: its folder gone
        // (CwdError, before any entry was opened) or its parse aborted (TAR_ABORT).
        if (neverCloses(err)) {
          onAbort();
          return reject(err);
        }
        // Once aborted, the truncation node-tar reports is the abort's own doing.
        if (signal?.aborted || failure !== undefined) return;
        failure = err;
        onAbort();
      };
      unpack.on('close', () => (failure === undefined ? resolve() : reject(failure)));
      unpack.on('error', fail);
      data.stream.on('error', fail);
      data.stream.pipe(unpack);
    });
    if (changed !== undefined) throw new ToolkitError('ERR_ARCHIVE_INVALID', `${tarPath} changed while it was being extracted into ${destDir}: its entry ${index} ("${changed}") is not the one checked before; nothing from it on was extracted. Something is still writing the archive: extract it again once nothing does`);
    // Cut short (its first entries, then its end): the links checked against entries that then
    // replaced them would be made (a -> ., s -> a/.., then a folder a/: s led out of the tree).
    if (index !== seen.length) throw new ToolkitError('ERR_ARCHIVE_INVALID', `${tarPath} changed while it was being extracted into ${destDir}: it ends after entry ${index} of the ${seen.length} checked before, and none of its symbolic links was made. Something is still writing the archive: extract it again once nothing does`);
    const folders: FolderTree = new Map();
    for (const [rel, target] of symlinks) {
      signal?.throwIfAborted();
      await placeSymlink(destDir, rel, target, folders);
    }
    signal?.throwIfAborted();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof ToolkitError) throw err;
    throw new ToolkitError('ERR_ARCHIVE_INVALID', `extracting ${tarPath} into ${destDir} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    data.close();
  }
}

/** The folders checked (or made) for the symbolic links placed so far, one map per folder by name. */
type FolderTree = Map<string, FolderTree>;

/**
 * Makes the symbolic link `rel` (an archive path) to `target` under `destDir`, creating the folders
 * it is in and replacing a file or empty folder at its path, as tar does; a folder on its way that
 * is not a folder (a link, a file) fails it, as does a folder with entries at its path. `folders`
 * holds the folders checked (or made) for the links placed before, by segment: a set of their full
 * paths held one string per folder, each as long as its depth (hundreds of MB for deep links).
 */
async function placeSymlink(destDir: string, rel: string, target: string, folders: FolderTree): Promise<void> {
  const segs = rel.split('/');
  let node = folders;
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = segs[i]!;
    let next = node.get(seg);
    if (next === undefined) {
      const dir = path.join(destDir, ...segs.slice(0, i + 1));
      const st = await fs.lstat(dir).catch(() => undefined);
      if (st === undefined) await fs.mkdir(dir);
      else if (!st.isDirectory()) throw new Error(`cannot make the symbolic link ${rel}: ${path.relative(destDir, dir)} is not a folder`);
      // Checked once: a folder that holds a link placed here cannot be replaced by a later one (not empty).
      next = new Map();
      node.set(seg, next);
    }
    node = next;
  }
  const dir = path.join(destDir, ...segs.slice(0, -1));
  const at = path.join(dir, segs[segs.length - 1]!);
  const st = await fs.lstat(at).catch(() => undefined);
  if (st?.isDirectory()) {
    await fs.rmdir(at).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot make the symbolic link ${rel}: a folder with entries is there (${err.code ?? err.message})`, { cause: err });
    });
  } else if (st !== undefined) await fs.unlink(at);
  await fs.symlink(target, at);
}

/**
 * True for a node-tar error after which it emits no `close`: a CwdError (the folder it extracts
 * into was gone or not a folder when it began; it stops without counting the entry done) or
 * TAR_ABORT (its parser aborted, which ends nothing).
 */
function neverCloses(err: Error): boolean {
  return err.name === 'CwdError' || (err as { tarCode?: unknown }).tarCode === 'TAR_ABORT';
}

/** Options for {@link createModelArchive}. */
export interface CreateArchiveOptions {
  /**
   * A folder whose contents go under `code/` in the archive. When given, a `code/` folder inside
   * the model directory is left out.
   */
  codeDir?: string;
  /**
   * Stops the packing when aborted (Ctrl-C in `smkit package`): the partial archive and the staging
   * folder are removed and the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Most files and folders to pack, as {@link ExtractArchiveOptions.maxEntries}. @defaultValue {@link MAX_ARCHIVE_ENTRIES} */
  maxEntries?: number;
  /** Most folders to pack, as {@link ExtractArchiveOptions.maxDirectories}. @defaultValue {@link MAX_ARCHIVE_DIRECTORIES} */
  maxDirectories?: number;
  /** Most folder levels in all, as {@link ExtractArchiveOptions.maxFolderLevels}. @defaultValue {@link MAX_ARCHIVE_FOLDER_LEVELS} */
  maxFolderLevels?: number;
  /**
   * Refuses (`ERR_PACKAGE_INVALID`) a name the archive's safe extraction would refuse (`..\x`, `C:x`).
   * @defaultValue true
   */
  checkNames?: boolean;
  /**
   * When given, a symbolic link that leads out of the folder being packed, to a folder that
   * contains it, or nowhere is left out and reported to this callback, with why, instead of being
   * packed as what it points to or refused: a training job's output must not pack the host's files
   * its code linked to, nor fail on a link it left behind. A folder is then packed through links
   * once: a second link to it is left out and reported too.
   */
  onLinkLeftOut?: (link: string, why: string) => void;
  /**
   * When given, a file or folder removed after it was listed (by a process still writing the
   * folder) is left out and reported to this callback: what was deleted was not meant to be kept.
   * Without it, packing fails with `ERR_PACKAGE_INVALID` naming it (Node's raw ENOENT before).
   */
  onVanished?: (file: string) => void;
}

/**
 * Counts what a listing packs against the limits the archive's extraction applies, and refuses
 * (`ERR_PACKAGE_INVALID`) at the entry past one: such an archive could not be opened by smkit, and
 * symbolic links to folders can make a small folder list without end (each link lists its folder again).
 */
class Tally {
  private entries = 0;
  private directories = 0;
  private levels = 0;
  /** What the archive puts before the paths being listed (`code/` for `--code`). */
  prefix = '';

  constructor(
    private readonly root: string,
    private readonly options: CreateArchiveOptions,
  ) {}

  add(full: string, rel: string, isDirectory: boolean): void {
    const { maxEntries = MAX_ARCHIVE_ENTRIES, maxDirectories = MAX_ARCHIVE_DIRECTORIES, maxFolderLevels = MAX_ARCHIVE_FOLDER_LEVELS } = this.options;
    this.entries++;
    if (isDirectory) this.directories++;
    this.levels += segments(this.prefix + rel).length - (isDirectory ? 0 : 1);
    const over =
      this.entries > maxEntries ? `more than ${countText(maxEntries)} files and folders`
      : this.directories > maxDirectories ? `more than ${countText(maxDirectories)} folders`
      : this.levels > maxFolderLevels ? `paths through more than ${countText(maxFolderLevels)} folders in all (a/b/c/file counts 3)`
      : undefined;
    if (over === undefined) return;
    throw new ToolkitError(
      'ERR_PACKAGE_INVALID',
      `${this.root} holds ${over}, by ${full}: more than smkit's safe extraction takes, so package --verify, smkit local and smkit build would refuse the archive; pack small files together or leave out what the model does not need (a symbolic link to a folder packs all of it again)`,
    );
  }
}

/** Folders and files never packed. */
const SKIPPED_NAMES = new Set(['.git', '.DS_Store']);

/**
 * The gzip level archives are packed at: one of zlib's fast levels (1-3), which compress a run of
 * one byte about 230 times, under the 1000:1 ratio the extraction refuses as a gzip bomb
 * ({@link MAX_DECOMPRESSION_RATIO}); the default level, 6, compresses one 1030 times, so a model
 * with a zero-filled file (64 MB of zeros) packed into an archive its own --verify, smkit local and
 * smkit build refused. Weights compress as well (float32: 1.126 at 3 and at 6), text about 12% less
 * (smkit's own src/, 6.9 MB: 1.49 MB at 6, 1.67 MB at 3), in the same time.
 */
const GZIP_LEVEL = 3;

/** A fixed timestamp so the same inputs always give the same bytes. */
const ARCHIVE_MTIME = new Date('2000-01-01T00:00:00Z');

/**
 * Follows a symbolic link the way packing will, refusing (`ERR_PACKAGE_INVALID`) one that cannot
 * be packed as the file or folder it points to.
 */
async function statFollowing(full: string): Promise<Stats> {
  try {
    return await fs.stat(full);
  } catch (err) {
    const target = await fs.readlink(full).catch(() => undefined);
    if (target === undefined) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'which does not exist' : `which cannot be followed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    throw new ToolkitError('ERR_PACKAGE_INVALID', `${full} is a symbolic link to ${target}, ${why}: links are packed as the files they point to; remove it or point it at a file`);
  }
}

/**
 * `ERR_PACKAGE_INVALID` for a file or folder of the tree that cannot be read: caught while listing,
 * or tar would fail half-way with Node's raw error naming the staging folder's path.
 */
function unreadable(p: string, err: unknown): ToolkitError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? (err as Error).message);
  return new ToolkitError('ERR_PACKAGE_INVALID', `${p} cannot be read (${why}): everything in the model directory is packed; make it readable (chmod a+r, and a+x for a folder) or move it out`, { cause: err });
}

/** `ERR_PACKAGE_INVALID` for a file or folder removed after it was listed, when no `onVanished` takes it. */
function vanished(p: string): ToolkitError {
  return new ToolkitError('ERR_PACKAGE_INVALID', `${p} was removed while the folder was being packed: something is still writing it; pack it again once nothing does`);
}

/** `ERR_PACKAGE_INVALID` for a file whose size changed between its stat and node-tar's read of it. */
function resized(p: string, err: Error): ToolkitError {
  return new ToolkitError('ERR_PACKAGE_INVALID', `${p} changed size while the folder was being packed (${err.message}): something is still writing it, or it is not a regular file on disk (a /proc or /sys file, whose size stat does not tell); pack it again once nothing writes it, or copy such a file's contents into the folder`, { cause: err });
}

/** Whether `err` (or what it wraps) is ENOENT and `p` is indeed gone: removed after it was listed. */
async function isGone(p: string, err: unknown): Promise<boolean> {
  const code = (err as NodeJS.ErrnoException).code === 'ENOENT' || ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return code && (await fs.lstat(p).then(() => false, () => true));
}

/** No symbolic links: what {@link refusal} is given for a path on its own. */
const NO_LINKS: LinkTree = { children: new Map() };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A folder entry's name, refusing (`ERR_PACKAGE_INVALID`) one that is not UTF-8: Node reads it with
 * U+FFFD in place of the bad bytes, a name no file has, so it could be neither packed nor opened.
 */
function utf8Name(dir: string, raw: Buffer): string {
  try {
    return strictUtf8.decode(raw);
  } catch {
    const shown = path.join(dir, raw.toString('utf8'));
    throw new ToolkitError('ERR_PACKAGE_INVALID', `${shown} has a name that is not UTF-8 (bytes ${raw.toString('hex')}): Node, and so smkit serve and its handler, cannot open it by name; rename it with a UTF-8 name or remove it`);
  }
}

/** Whether {@link listTree} leaves an entry out, given its archive path and where it really is. */
type SkipEntry = (rel: string, real: string) => boolean;

/** Symbolic links {@link listTree} keeps inside the tree: `root` is the tree's real path. */
interface Confinement {
  readonly root: string;
  readonly report: (link: string, why: string) => void;
  /**
   * Folders already packed through a symbolic link (by `dev:ino`), and as what: each is packed
   * through a link once, or links to folders that link on to the same folders (a DAG) would pack
   * them 2^depth times (the training upload has no entry limit: hours of work and a full disk).
   */
  readonly linkedFolders: Map<string, string>;
}

/**
 * Why the symbolic link at `full` is not followed when links are confined to `root`, or undefined
 * when it leads to a file or folder inside it. `ancestors` are the real paths of the folders that
 * contain the link.
 */
async function linkEscape(full: string, root: string, ancestors: readonly string[]): Promise<string | undefined> {
  const real = await fs.realpath(full).catch(() => undefined);
  if (real === undefined) return 'it points nowhere';
  if (real !== root && !real.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return `it leads out of the folder, to ${real}`;
  if (ancestors.includes(real)) return 'it points to a folder that contains it';
  return undefined;
}

/** Whether the folder `outer` is `inner` or holds it (both real paths). */
function contains(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

async function listTree(
  root: string,
  rel: string,
  skip: SkipEntry,
  out: string[],
  tally: Tally,
  checkNames: boolean,
  ancestors: readonly string[] = [],
  confine?: Confinement,
  onVanished?: (file: string) => void,
): Promise<void> {
  const dir = path.join(root, rel);
  // Real paths of this folder and those above it: a link to one of them would be packed endlessly.
  const here = [...ancestors, await fs.realpath(dir)];
  await fs.access(dir, constants.R_OK | constants.X_OK).catch((err: unknown) => {
    throw unreadable(dir, err);
  });
  const names = (await fs.readdir(dir, { encoding: 'buffer' })).map((raw) => utf8Name(dir, raw)).sort();
  for (const name of names) {
    if (SKIPPED_NAMES.has(name)) continue;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    if (skip(childRel, path.join(here[here.length - 1]!, name))) continue;
    const full = path.join(root, childRel);
    // What was listed before this entry: a folder removed while listed leaves none of its entries.
    const listedBefore = out.length;
    try {
      // What the extraction would refuse is refused here, or --verify, smkit local and build could not open the archive.
      const why = checkNames ? refusal({ path: childRel, type: 'File' }, NO_LINKS) : undefined;
      if (why !== undefined) {
        throw new ToolkitError('ERR_PACKAGE_INVALID', `${full} would be stored as "${excerpt(childRel, 200)}", which the archive's safe extraction refuses (${why}; it reads \\ as a folder separator and a letter and colon at the start as a drive, as archives made on Windows have them): rename it`);
      }
      if (confine !== undefined && (await fs.lstat(full)).isSymbolicLink()) {
        const why = await linkEscape(full, confine.root, here);
        if (why !== undefined) {
          confine.report(full, why);
          continue;
        }
      }
      const st = await statFollowing(full);
      if (st.isDirectory()) {
        const real = await fs.realpath(full);
        // A folder that holds one being listed: the tree's root too, so a link to the folder above
        // the model directory (`up -> ..`) is refused here, not one level down, where the model
        // directory itself was met again and readlink of it (no link) failed with a raw EINVAL.
        if (here.some((folder) => contains(real, folder))) {
          throw new ToolkitError('ERR_PACKAGE_INVALID', `${full} is a symbolic link to ${await fs.readlink(full)}, a folder that contains it: it would be packed endlessly; remove the link`);
        }
        if (confine !== undefined && real !== path.join(here[here.length - 1]!, name)) {
          const key = `${st.dev}:${st.ino}`;
          const packedAs = confine.linkedFolders.get(key);
          if (packedAs !== undefined) {
            confine.report(full, `it points to a folder already packed, as ${packedAs}`);
            continue;
          }
          confine.linkedFolders.set(key, childRel);
        }
        tally.add(full, childRel, true);
        out.push(`${childRel}/`);
        await listTree(root, childRel, skip, out, tally, checkNames, here, confine, onVanished);
      } else if (st.isFile()) {
        await fs.access(full, constants.R_OK).catch((err: unknown) => {
          throw unreadable(full, err);
        });
        tally.add(full, childRel, false);
        out.push(childRel);
      }
    } catch (err) {
      if (!(await isGone(full, err))) throw err;
      if (onVanished === undefined) throw vanished(full);
      out.length = listedBefore;
      onVanished(full);
    }
  }
}

/**
 * Packs `names` (paths relative to the pack's folder) into `file`. Not node-tar's `create`, which
 * reads a name that starts with `@` as an archive whose entries it adds: a model's top-level
 * `@notes.txt` was looked for as `notes.txt` and failed the packing, as removed meanwhile.
 * Settles once `file` is closed; `signal`'s abort ends the writing (node-tar itself cannot be
 * stopped: it is left with no one reading it) and rejects with its reason.
 */
function writeTar(pack: import('tar').Pack, names: readonly string[], file: string, signal?: AbortSignal): Promise<void> {
  const out = createWriteStream(file);
  const written = new Promise<void>((resolve, reject) => {
    let failure: { reason: unknown } | undefined;
    // Settled on the file's close, not on the error: a failure before the file was opened would
    // otherwise let the caller remove it before the pending open created it (a partial left behind).
    const fail = (err: unknown): void => {
      failure ??= { reason: err };
      out.destroy();
    };
    out.on('error', fail);
    out.on('close', () => (failure === undefined ? resolve() : reject(failure.reason as Error)));
    pack.on('error', fail);
    if (signal !== undefined) {
      if (signal.aborted) fail(signal.reason);
      else signal.addEventListener('abort', () => fail(signal.reason), { once: true });
    }
  });
  pack.pipe(out);
  for (const name of names) pack.add(name);
  pack.end();
  return written;
}

/**
 * Where `file` really is: its folder with every symbolic link resolved, and its name (a link there
 * stays the link, as writing the archive replaces it). A folder that does not exist yet resolves as
 * far as it exists.
 */
export async function realLocation(file: string): Promise<string> {
  let folder = path.dirname(path.resolve(file));
  const rest: string[] = [path.basename(file)];
  for (;;) {
    const real = await fs.realpath(folder).catch(() => undefined);
    if (real !== undefined) return path.join(real, ...rest);
    const parent = path.dirname(folder);
    if (parent === folder) return path.resolve(file);
    rest.unshift(path.basename(folder));
    folder = parent;
  }
}

/**
 * Whether `real` is the output archive or a partial one beside it (`<out>.partial-<pid>`, which a
 * packing ended by SIGKILL or a crash leaves behind, as large as what it had packed).
 */
function isOutput(real: string, out: string | undefined): boolean {
  return out !== undefined && (real === out || (real.startsWith(`${out}.partial-`) && /^\d+$/.test(real.slice(out.length + '.partial-'.length))));
}

/**
 * Lists the archive paths {@link createModelArchive} would write, in archive order (directories
 * end in `/`).
 */
export async function listModelArchiveEntries(modelDir: string, options: CreateArchiveOptions & { exclude?: string } = {}): Promise<string[]> {
  const root = path.resolve(modelDir);
  // Where the excluded file really is: the model directory or the output may be named through links.
  const exclude = options.exclude ? await realLocation(options.exclude) : undefined;
  // Where both folders really are: a --code folder inside the model directory (my-model/src) was
  // packed twice, as src/ and as code/, and a model directory inside it twice too (at the top and
  // under code/); each is now packed once. The model directory itself as its code is refused: every
  // model file would be stored twice, under code/ as well.
  const realRoot = await fs.realpath(root).catch(() => root);
  const realCode = options.codeDir === undefined ? undefined : await fs.realpath(options.codeDir).catch(() => path.resolve(options.codeDir!));
  if (realCode !== undefined && realCode === realRoot) {
    throw new ToolkitError('ERR_PACKAGE_INVALID', `the code folder ${options.codeDir} is the model directory ${modelDir} itself: every model file would be packed twice, at the top and under code/. Move the handler into ${path.join(modelDir, 'code')} and leave out --code, or give a folder that holds only the code`);
  }
  const skip: SkipEntry = (rel, real) => (options.codeDir !== undefined && (rel === 'code' || rel.startsWith('code/'))) || real === realCode || isOutput(real, exclude);
  const entries: string[] = [];
  const tally = new Tally(root, options);
  const checkNames = options.checkNames ?? true;
  const report = options.onLinkLeftOut;
  const confine = async (dir: string): Promise<Confinement | undefined> => (report === undefined ? undefined : { root: await fs.realpath(dir), report, linkedFolders: new Map() });
  await listTree(root, '', skip, entries, tally, checkNames, [], await confine(root), options.onVanished);
  if (options.codeDir !== undefined) {
    const codeRoot = path.resolve(options.codeDir);
    const codeEntries: string[] = [];
    tally.add(codeRoot, 'code', true);
    tally.prefix = 'code/';
    await listTree(codeRoot, '', (_rel, real) => real === realRoot || isOutput(real, exclude), codeEntries, tally, checkNames, [], await confine(codeRoot), options.onVanished);
    entries.push('code/', ...codeEntries.map((e) => `code/${e}`));
  }
  return entries.sort();
}

/**
 * Copies a model directory as `smkit package` would pack it ({@link listModelArchiveEntries}), for
 * `smkit build --model` and `smkit local`: `.git`, `.DS_Store` and what is neither a file nor a
 * folder left out, links copied as what they point to (one pointing nowhere or to a folder above
 * it refused), unreadable files and trees past the safe extraction's limits refused, all
 * `ERR_PACKAGE_INVALID` before anything is copied; modes as the archive stores them (0644, 0755
 * for folders and for files their owner may run), so the copy reads as an extracted archive for
 * any user a container runs as. `fs.cp` copied `.git`, failed with Node's raw ERR_FS_CP_FIFO_PIPE
 * on a FIFO, and followed a link to `..` 40 times, copying the folder above it each time, before
 * failing with a raw ELOOP. Stops, rejecting with its reason, once `signal` is aborted.
 */
export async function copyModelDirectory(modelDir: string, dest: string, signal?: AbortSignal): Promise<void> {
  const root = path.resolve(modelDir);
  const entries = await listModelArchiveEntries(root);
  await fs.mkdir(dest, { recursive: true, mode: 0o755 });
  for (const entry of entries) {
    signal?.throwIfAborted();
    const target = path.join(dest, entry);
    if (entry.endsWith('/')) {
      await fs.mkdir(target, { recursive: true });
      await fs.chmod(target, 0o755);
      continue;
    }
    const from = path.join(root, entry);
    await fs.copyFile(from, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ToolkitError('ERR_PACKAGE_INVALID', `${from} was removed while the folder was being copied: something is still writing it; copy it again once nothing does`, { cause: err });
      throw err;
    });
    const { mode } = await fs.stat(target);
    await fs.chmod(target, mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * Builds a `model.tar.gz` in SageMaker's layout (https://sagemaker.readthedocs.io/en/stable/frameworks/pytorch/using_pytorch.html#model-directory-structure): the model files at
 * the top level and the handler code under `code/`. Entries are sorted, timestamps fixed and owner
 * data left out, so the same inputs give the same archive. Symbolic links are stored as the files
 * they point to (`ERR_PACKAGE_INVALID` for one that points nowhere or to a folder above it), and
 * hard-linked files each as a whole file; a tree past the extraction's limits (`maxEntries`,
 * `maxDirectories`, `maxFolderLevels`) is `ERR_PACKAGE_INVALID`, found while listing;
 * `.git` and `.DS_Store` are skipped, as is `outFile` when it lies inside the tree.
 *
 * @example
 * await createModelArchive('my-model', 'model.tar.gz', { codeDir: 'src/handler' });
 */
export async function createModelArchive(modelDir: string, outFile: string, options: CreateArchiveOptions = {}): Promise<string[]> {
  const tar = await import('tar');
  const root = path.resolve(modelDir);
  const out = path.resolve(outFile);
  const listed = await listModelArchiveEntries(root, { ...options, exclude: out });
  // Where an entry's file is: for the messages about one removed since it was listed.
  const source = (entry: string): string => {
    const rel = entry.endsWith('/') ? entry.slice(0, -1) : entry;
    if (options.codeDir !== undefined && (rel === 'code' || rel.startsWith('code/'))) return path.join(path.resolve(options.codeDir), rel.slice('code'.length));
    return path.join(root, rel);
  };
  const gone = (entry: string): void => {
    if (options.onVanished === undefined) throw vanished(source(entry));
    options.onVanished(source(entry));
  };
  const entries: string[] = [];
  const dropped = new Set<string>();
  // Pack from a staging folder of links so model files and an outside code folder share one root.
  const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-pack-'));
  try {
    for (const name of await fs.readdir(root)) {
      if (SKIPPED_NAMES.has(name) || (options.codeDir !== undefined && name === 'code')) continue;
      await fs.symlink(path.join(root, name), path.join(staging, name));
    }
    if (options.codeDir !== undefined) await fs.symlink(path.resolve(options.codeDir), path.join(staging, 'code'));
    // Every file is stored whole, a hard link too: node-tar writes a Link entry for a file of more
    // than one link and, doing so, ends the archive twice ('write after end'), hangs or puts the link
    // before its file (isaacs/node-tar#448, #460). A stat that counts one link keeps it off that path,
    // and the archive no longer depends on links outside the model directory. Modes are the two git
    // keeps (node-tar's portable mode kept 0600, 0700 and setuid bits, so the umask changed the bytes
    // and a setuid file stayed one where root extracts it).
    const statCache = new Map<string, Stats>();
    for (const entry of listed) {
      const full = path.join(staging, entry.endsWith('/') ? entry.slice(0, -1) : entry);
      const st = await fs.stat(full).catch(async (err: unknown) => {
        if (!(await isGone(full, err))) throw err;
        gone(entry);
      });
      if (st === undefined) continue;
      entries.push(entry);
      const mode = (st.mode & ~0o7777) | (st.isDirectory() || st.mode & 0o100 ? 0o755 : 0o644);
      statCache.set(full, Object.assign(Object.create(Object.getPrototypeOf(st) as object) as Stats, st, { nlink: 1, mode }));
    }
    await makeDir(path.dirname(out));
    // Names are stored as listed (preservePaths): node-tar took a leading C: or \ off a relative
    // name, storing C:x as x, over a real x; such names are refused while listing unless checkNames is false.
    const tmpOut = `${out}.partial-${process.pid}`;
    // An entry removed since: node-tar, which opens each file just after this, would fail with ENOENT.
    let removed: string | undefined;
    const filter = (p: string): boolean => {
      if (existsSync(path.join(staging, p))) return true;
      dropped.add(p);
      if (options.onVanished === undefined) removed ??= p;
      else options.onVanished(source(p));
      return false;
    };
    try {
      options.signal?.throwIfAborted();
      // node-tar refuses a list of no paths (a folder of only links left out): an archive of no entries is its two end blocks.
      const packing = entries.length === 0 ? fs.writeFile(tmpOut, gzipSync(Buffer.alloc(1024))) : writeTar(
        new tar.Pack({ cwd: staging, gzip: { level: GZIP_LEVEL }, portable: true, follow: true, noDirRecurse: true, mtime: ARCHIVE_MTIME, statCache, preservePaths: true, filter }),
        entries.map((e) => (e.endsWith('/') ? e.slice(0, -1) : e)),
        tmpOut,
        options.signal,
      );
      await packing;
      if (removed !== undefined) throw vanished(source(removed));
      await fs.rename(tmpOut, out);
    } catch (err) {
      await fs.rm(tmpOut, { force: true });
      // Removed between the check above and node-tar's open of it.
      const p = (err as NodeJS.ErrnoException).path;
      const inStaging = p !== undefined && p.startsWith(staging + path.sep);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && inStaging) throw vanished(source(path.relative(staging, p)));
      // node-tar stores the size stat gave and fails when reading finds another: a file written
      // meanwhile, or one whose size stat does not tell (sysfs). Its raw error named the staging path.
      if ((err as NodeJS.ErrnoException).code === 'EOF' && inStaging) throw resized(source(path.relative(staging, p)), err as Error);
      throw err;
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return entries.filter((e) => !dropped.has(e.endsWith('/') ? e.slice(0, -1) : e));
}
