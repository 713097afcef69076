// S3 locations as the SageMaker APIs take them: the endpoint file (which smkit deploy reads too)
// and the local SageMaker share them, so this module depends on neither.

/** `s3://bucket/key` → its parts; undefined for anything else. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

/** `https://<bucket>.s3[.<region>].amazonaws.com/<key>` (virtual-hosted style, dual-stack and `s3-<region>` hosts too). */
const VIRTUAL_HOSTED = /^https:\/\/([^/]+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?(?:\/(.*))?$/;
/** `https://s3[.<region>].amazonaws.com/<bucket>/<key>` (path style). */
const PATH_STYLE = /^https:\/\/s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?\/([^/]+)\/?(.*)$/;

/**
 * An S3 object's location as the service takes it where an `s3://` URI or an `https://` URL may be
 * given (`InputLocation`, `S3OutputPath`): `s3://bucket/key`, or an Amazon S3 `https://` URL in
 * virtual-hosted or path style (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-bucket-intro.html),
 * whose key is percent-decoded. Undefined for anything else.
 */
export function parseS3Location(url: string): { bucket: string; key: string } | undefined {
  const s3 = parseS3Url(url);
  if (s3) return s3;
  const m = PATH_STYLE.exec(url) ?? VIRTUAL_HOSTED.exec(url);
  if (!m) return undefined;
  try {
    return { bucket: m[1]!, key: decodeURIComponent(m[2] ?? '') };
  } catch {
    return undefined;
  }
}

/** An S3 key prefix read as a folder: the prefix with one trailing `/` (none when empty), so `out` and `out/` both mean `out/<name>`. */
export function s3FolderPrefix(key: string): string {
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}

/**
 * Whether `p` reads as a URL rather than a local path: a scheme followed by `://`, or a scheme an S3
 * location or a folder's URL has (`s3`, `http`, `https`, `file`, any case) followed by a colon, as in
 * `s3:/bucket/key` (one slash short), which would otherwise be taken for a folder named `s3:`. The
 * service refuses such a value (it does not match the `(https|s3)://` pattern of its S3 URIs).
 */
export function looksLikeUrl(p: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(p) || /^(?:s3|https?|file):/i.test(p);
}
