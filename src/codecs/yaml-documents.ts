/**
 * A YAML parse error of the `yaml` package as a message for the file's author. The package's own
 * for a second document (a `---` or `...` line, as between Kubernetes manifests, or two files
 * pasted together) tells them to "use YAML.parseAllDocuments()", a call of the library's API;
 * `oneDocument` says how the file holds everything in one (what to list under which key).
 */
export function yamlErrorForAuthor(err: import('yaml').YAMLError, oneDocument: string): Error {
  if (err.code !== 'MULTIPLE_DOCS') return err;
  const at = err.linePos?.[0];
  const where = at ? ` at line ${at.line}, column ${at.col}` : '';
  return new Error(`it holds more than one YAML document (a second one begins${where}: a "---" line starts one, a "..." line ends one): ${oneDocument}, and remove the second document's marker`);
}
