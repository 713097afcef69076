import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { HTTP_SERVER_OPTIONS } from './respond.js';
import { NODE_CONNECTIONS_CHECKING_INTERVAL_MS, setServeTimeouts } from './request-timeout.js';

test("smkit serve's request timeout comes after the latest body-reader 408, whatever SMKIT_BODY_TIMEOUT_SECONDS is, and is a bound Node applies", () => {
  // HTTP_SERVER_OPTIONS leaves Node's check interval at its default, which the timeout is counted with.
  assert.equal((HTTP_SERVER_OPTIONS as { connectionsCheckingInterval?: number }).connectionsCheckingInterval, undefined);
  for (const bodyTimeoutSeconds of [0.001, 60, 86_400]) {
    const server = createServer(HTTP_SERVER_OPTIONS);
    setServeTimeouts(server, bodyTimeoutSeconds);
    // Headers in just before Node's check would cut them, then the body reader's time (its deadlines
    // are checked every 100 ms): Node's own answer must come after that, and it comes no sooner than
    // its timeout.
    const latestBodyAnswerMs = server.headersTimeout + NODE_CONNECTIONS_CHECKING_INTERVAL_MS + bodyTimeoutSeconds * 1000 + 100;
    assert.ok(server.requestTimeout > latestBodyAnswerMs, `body timeout ${bodyTimeoutSeconds} s: request timeout ${server.requestTimeout} ms, body reader's latest 408 at ${latestBodyAnswerMs} ms`);
    assert.ok(server.headersTimeout > server.keepAliveTimeout);
    assert.ok(server.requestTimeout >= server.headersTimeout);
  }
});
