/**
 * `text` as one word of a POSIX shell command that a message prints for the user to copy and run:
 * as it is when the shell reads none of its characters, else in single quotes (`cd my model` was
 * printed for `smkit init "my model"`, `tar -xzf a b/model.tar.gz` for an archive under `a b/`);
 * `./` before a leading `-`, which the command would read as an option.
 */
export function shellWord(text: string): string {
  const word = text.startsWith('-') ? `./${text}` : text;
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
