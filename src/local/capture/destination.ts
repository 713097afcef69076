import { fileURLToPath } from 'node:url';
import { looksLikeUrl } from '../../aws/s3-location.js';
import { parseS3Location } from '../s3/objects.js';

/** botocore's `DestinationS3Uri` pattern (sagemaker service model, shape `DestinationS3Uri`). */
export const DESTINATION_S3_URI_PATTERN = '(https|s3)://([^/])/?(.*)';

/** Where data capture goes: an S3 bucket and key prefix, or a local folder. */
export type CaptureDestination = { s3: { bucket: string; key: string } } | { folder: string };

/**
 * Where the local SageMaker writes the data capture of a `DestinationS3Uri`: an `s3://bucket[/prefix]`
 * URI or an Amazon S3 `https://` URL (virtual-hosted or path style) goes to S3, as on the service
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html); a `file://`
 * URL or a path is a local folder. Undefined for any other URL (an `https://` URL of another host,
 * `s3://` without a bucket), which would otherwise be taken for a folder named after it, for a
 * `file://` URL that names no local folder (another host, an encoded '/'), for a mistyped URL such as
 * `s3:/bucket/key` ({@link looksLikeUrl}), and for ''.
 */
export function captureDestination(uri: string): CaptureDestination | undefined {
  const s3 = parseS3Location(uri);
  if (s3) return { s3 };
  if (uri.startsWith('file://')) {
    // One of another host, or with an encoded '/' in its path, names no local folder (fileURLToPath throws).
    try {
      return { folder: fileURLToPath(uri) };
    } catch {
      return undefined;
    }
  }
  // An empty one would be the working directory.
  return uri === '' || looksLikeUrl(uri) ? undefined : { folder: uri };
}
