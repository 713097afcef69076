import { AwsServiceError } from '../../../aws/service.js';

/** Whether a message matches a filter pattern; `terms` is how many terms it may look for in one. */
export type MessageMatcher = ((message: string) => boolean) & { readonly terms: number };

function matcher(terms: number, match: (message: string) => boolean): MessageMatcher {
  return Object.assign(match, { terms });
}

function invalidPattern(pattern: string, why: string): AwsServiceError {
  return new AwsServiceError(
    'InvalidParameterException',
    `Invalid filter pattern ${JSON.stringify(pattern.slice(0, 200))}: ${why}. The local CloudWatch Logs matches terms: words or "quoted phrases" that must all appear, -term for one that must not, or ?term ?term for any of them.`,
    400,
  );
}

/**
 * Compiles the term form of CloudWatch Logs' filter pattern syntax (case-sensitive, as CloudWatch
 * matches): an empty pattern matches every event; `ERROR Exception` events with both terms;
 * `"a phrase"` the phrase as written (`\"` in it is a quote, `\\` a backslash); `-ERROR` events
 * without the term; `?ERROR ?WARN` events with either. JSON (`{ ... }`), space-delimited
 * (`[ ... ]`) and regular-expression (`%...%`) patterns are refused with
 * `InvalidParameterException`, as is mixing `?` terms with others.
 */
export function compileFilterPattern(pattern: string | undefined): MessageMatcher {
  const text = (pattern ?? '').trim();
  if (text === '') return matcher(0, () => true);
  if (text.startsWith('{') || text.startsWith('[') || text.startsWith('%')) {
    throw invalidPattern(text, `${text.startsWith('{') ? 'JSON' : text.startsWith('[') ? 'space-delimited' : 'regular-expression'} patterns are not supported by the local CloudWatch Logs`);
  }
  const all: string[] = [];
  const none: string[] = [];
  const any: string[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === ' ' || text[i] === '\t') {
      i++;
      continue;
    }
    let sign = '';
    if (text[i] === '-' || text[i] === '?') sign = text[i++]!;
    let term: string;
    if (text[i] === '"') {
      // Inside quotes \" is a quote and \\ a backslash, as the AWS CDK's FilterPattern writes them.
      term = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        term += text[j];
      }
      if (j === text.length) throw invalidPattern(text, 'a quoted phrase has no closing "');
      i = j + 1;
    } else {
      let end = i;
      while (end < text.length && text[end] !== ' ' && text[end] !== '\t') end++;
      term = text.slice(i, end);
      i = end;
    }
    if (term === '') throw invalidPattern(text, `${sign || 'a quoted phrase'} is not followed by a term`);
    (sign === '-' ? none : sign === '?' ? any : all).push(term);
  }
  if (any.length > 0 && all.length + none.length > 0) throw invalidPattern(text, '?terms cannot be combined with other terms here');
  if (any.length > 0) return matcher(any.length, (message) => any.some((t) => message.includes(t)));
  return matcher(all.length + none.length, (message) => all.every((t) => message.includes(t)) && !none.some((t) => message.includes(t)));
}
