import type { Command } from 'commander';

/** Registers `smkit invoke`: one request to a container's /invocations or a front-door endpoint. */
export function registerInvoke(program: Command): void {
  program
    .command('invoke')
    .description("Send a file or stdin to a container's /invocations (or a local front-door endpoint) and print the answer")
    .argument('[url]', 'container URL (a bare http://host:port gets /invocations)', undefined)
    .option('-f, --file <file>', 'request body file ("-" or omitted with piped input: stdin)')
    .option('-c, --content-type <type>', 'request Content-Type (default: from the file extension, else application/octet-stream; application/json for stdin)')
    .option('-a, --accept <type>', 'request Accept (default: none sent, the server default applies)')
    .option('--custom-attributes <value>', 'X-Amzn-SageMaker-Custom-Attributes')
    .option('--target-model <name>', 'X-Amzn-SageMaker-Target-Model')
    .option('--target-variant <name>', 'X-Amzn-SageMaker-Target-Variant (front door)')
    .option('--inference-id <id>', 'X-Amzn-SageMaker-Inference-Id')
    .option('--session-id <id>', 'X-Amzn-SageMaker-Session-Id: NEW_SESSION opens a stateful session (its id is printed on stderr), an id continues it')
    .option('-e, --endpoint <name>', 'front-door endpoint name: POST <front door>/endpoints/<name>/invocations')
    .option('--front-door <url>', 'front door base URL used with --endpoint (default: http://127.0.0.1:8080)')
    .option('-o, --output <file>', 'save the response body here instead of printing it ("-": stdout)')
    .option('-v, --verbose', 'print the request line, response status and headers on stderr')
    .option('--timeout <seconds>', 'give up after this long, at most 86400', '60')
    .option('-s, --stream', 'print the answer as it streams (a chunked answer, or the front door\'s InvokeEndpointWithResponseStream)')
    .option('--bidi', "open the container's bidirectional stream (WebSocket): each input line is one message, each reply is printed on its own line (binary ones in base64)")
    .option('--idle <seconds>', 'with --bidi: once the input is sent, close the stream after this long without a reply, at most 86400', '2')
    .action(async (url: string | undefined, opts) => {
      if (opts.bidi) {
        const { bidiCommand } = await import('../../invoke/bidi.js');
        return bidiCommand(url, opts);
      }
      const { invokeCommand } = await import('../../invoke/command.js');
      await invokeCommand(url, opts);
    });
}
