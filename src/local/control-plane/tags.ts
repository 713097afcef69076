import { validationException as validation } from '../../aws/service.js';
import type { Tag } from '../../aws/shapes/sagemaker.js';

/**
 * Throws the service's `ValidationException` when a request's `Tags` cannot be set as given: a key
 * with the `aws:` prefix AWS reserves, or a key given twice (a resource holds one value per key, and
 * SageMaker refuses the request rather than pick one).
 */
export function checkRequestTags(tags: readonly Tag[] | undefined): void {
  const seen = new Set<string>();
  for (const { Key } of tags ?? []) {
    if (Key.toLowerCase().startsWith('aws:')) throw validation(`System prefix 'aws:' reserved for AWS usage in tag key: ${Key}`);
    if (seen.has(Key)) throw validation(`Duplicate tag key: ${Key} is given more than once; give each key once.`);
    seen.add(Key);
  }
}
