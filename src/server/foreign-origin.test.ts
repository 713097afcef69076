import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { foreignHost, foreignHostError, foreignOrigin, foreignOriginError } from './foreign-origin.js';
import { readAllowedHosts } from '../config/settings.js';

const request = (headers: IncomingMessage['headers']) => ({ headers }) as IncomingMessage;

test('an Origin on this machine is not foreign, in every spelling a browser or a client sends', () => {
  for (const origin of [
    'http://localhost:3000',
    'https://LOCALHOST',
    'http://localhost.:8080',
    'http://127.0.0.1:8080',
    'http://127.0.0.5',
    'http://127.1',
    'http://[::1]:8080',
    'http://[0:0:0:0:0:0:0:1]',
    'http://[::ffff:127.0.0.1]:8080',
  ]) {
    assert.equal(foreignOrigin(request({ origin, host: '127.0.0.1:8080' })), undefined, origin);
  }
});

test('an Origin of another site, a name that only looks local, null and a malformed one are foreign', () => {
  for (const origin of [
    'https://evil.example',
    'http://localhost.evil.com',
    'http://127.0.0.1.nip.io',
    'http://evil.localhost',
    'http://[::ffff:10.0.0.1]',
    'http://10.0.0.5:8080',
    'null',
    '',
    'localhost',
    'ws://localhost',
    'file://',
    'http://localhost, https://evil.example',
    'http://127.0.0.1:99999',
  ]) {
    assert.deepEqual(foreignOrigin(request({ origin, host: '127.0.0.1:8080' })), { header: 'Origin', value: origin }, origin);
  }
});

test('an Origin that is the address the request was sent to is not foreign; a name is, even when Host names it too (DNS rebinding)', () => {
  // What Netty's WebSocket client sends for ws://10.0.0.5:8080/…: its own URL as Origin.
  assert.equal(foreignOrigin(request({ origin: 'http://10.0.0.5:8080', host: '10.0.0.5:8080' })), undefined);
  assert.equal(foreignOrigin(request({ origin: 'http://[fd00::5]:8080', host: '[fd00::5]:8080' })), undefined);
  assert.equal(foreignOrigin(request({ origin: 'http://10.0.0.5:3000', host: '10.0.0.5:8080' })), undefined, 'another port of this address is this machine');
  assert.deepEqual(foreignOrigin(request({ origin: 'http://10.0.0.6:8080', host: '10.0.0.5:8080' })), { header: 'Origin', value: 'http://10.0.0.6:8080' });
  assert.deepEqual(foreignOrigin(request({ origin: 'http://evil.example:8080', host: 'evil.example:8080' })), { header: 'Origin', value: 'http://evil.example:8080' });
  assert.deepEqual(foreignOrigin(request({ origin: 'http://10.0.0.5' })), { header: 'Origin', value: 'http://10.0.0.5' }, 'no Host: no address to match');
});

test('without an Origin the Referer is read; with neither nothing is foreign', () => {
  assert.equal(foreignOrigin(request({})), undefined);
  assert.equal(foreignOrigin(request({ referer: 'http://localhost:3000/app?x=1' })), undefined);
  assert.deepEqual(foreignOrigin(request({ referer: 'https://evil.example/page.html' })), { header: 'Referer', value: 'https://evil.example/page.html' });
  // Origin decides when both are sent.
  assert.equal(foreignOrigin(request({ origin: 'http://localhost:3000', referer: 'https://evil.example/' })), undefined);
});

test('origins SMKIT_CORS_ALLOW_ORIGINS names are not foreign, in Origin or as the origin of a Referer; others still are; * lets any page in', () => {
  const allowed = ['https://app.example.com', 'http://10.0.0.9:3000'];
  assert.equal(foreignOrigin(request({ origin: 'https://app.example.com', host: '127.0.0.1:8080' }), allowed), undefined);
  assert.equal(foreignOrigin(request({ origin: 'http://10.0.0.9:3000', host: '127.0.0.1:8080' }), allowed), undefined);
  assert.equal(foreignOrigin(request({ referer: 'https://app.example.com/demo?x=1', host: '127.0.0.1:8080' }), allowed), undefined);
  assert.equal(foreignOrigin(request({ origin: 'http://localhost:3000', host: '127.0.0.1:8080' }), allowed), undefined, 'this machine stays allowed');
  for (const origin of ['https://evil.example', 'http://app.example.com', 'https://app.example.com:8443', 'https://sub.app.example.com', 'null']) {
    assert.deepEqual(foreignOrigin(request({ origin, host: '127.0.0.1:8080' }), allowed), { header: 'Origin', value: origin }, origin);
  }
  assert.deepEqual(foreignOrigin(request({ referer: 'https://app.example.com.evil.example/', host: '127.0.0.1:8080' }), allowed), {
    header: 'Referer',
    value: 'https://app.example.com.evil.example/',
  });
  assert.equal(foreignOrigin(request({ origin: 'null', host: '127.0.0.1:8080' }), 'any'), undefined);
  assert.equal(foreignOrigin(request({ origin: 'https://evil.example', host: '127.0.0.1:8080' }), 'any'), undefined);
});

test("serve's refusal is a catalogued 403 that names the header and says what to do", () => {
  const err = foreignOriginError({ header: 'Origin', value: 'https://evil.example' });
  assert.equal(err.code, 'ERR_FOREIGN_ORIGIN');
  assert.equal(err.status, 403);
  assert.match(err.message, /\(Origin: https:\/\/evil\.example\)/);
  assert.match(err.message, /name its origin in SMKIT_CORS_ALLOW_ORIGINS \(as in https:\/\/app\.example\.com\), or serve the page from localhost/);
});

test('a Host that is localhost or an IP address is never foreign (DNS rebinding needs a name); other names are unless listed', () => {
  for (const host of ['localhost:8080', 'LOCALHOST', 'localhost.:80', '127.0.0.1:8080', '127.1', '[::1]:8080', '10.0.0.5:8080', '[fd00::5]', '172.17.0.1', '0x7f.1:8080']) {
    assert.equal(foreignHost(request({ host }), undefined), undefined, host);
  }
  assert.equal(foreignHost(request({}), undefined), undefined, 'no Host (HTTP/1.0): no browser sends that');
  for (const host of ['evil.example:8080', 'evil.localhost', '127.0.0.1.nip.io', 'localhost.evil.com', 'myhost', 'a@127.0.0.1', '127.0.0.1/x', '', 'evil.example:80:80', '[::1']) {
    assert.equal(foreignHost(request({ host }), undefined), host, host);
  }
  const allowed = readAllowedHosts({ SMKIT_ALLOWED_HOSTS: 'MyHost.example., .corp.example' });
  assert.deepEqual(allowed, ['myhost.example', '.corp.example']);
  for (const host of ['myhost.example:8080', 'MYHOST.EXAMPLE', 'corp.example', 'gpu1.corp.example:8080', 'localhost', '10.0.0.5']) {
    assert.equal(foreignHost(request({ host }), allowed), undefined, host);
  }
  for (const host of ['evil.example', 'sub.myhost.example', 'evilcorp.example', 'myhost.example.evil.example']) {
    assert.equal(foreignHost(request({ host }), allowed), host, host);
  }
  assert.equal(foreignHost(request({ host: 'evil.example' }), 'any'), undefined);
  assert.equal(readAllowedHosts({ SMKIT_ALLOWED_HOSTS: ' * ' }), 'any');
  assert.equal(readAllowedHosts({}), undefined);
  for (const bad of ['myhost:8080', 'http://myhost', 'my host', 'a,,b', '*.example.com', 'a/b']) {
    assert.throws(() => readAllowedHosts({ SMKIT_ALLOWED_HOSTS: bad }), (err: Error & { code?: string }) => err.code === 'ERR_CONFIG_INVALID' && /SMKIT_ALLOWED_HOSTS=.* is invalid: expected a comma-separated list of host names/.test(err.message), bad);
  }
  const err = foreignHostError('evil.example:8080');
  assert.equal(err.code, 'ERR_FOREIGN_ORIGIN');
  assert.equal(err.status, 403);
  assert.match(err.message, /Host: evil\.example:8080.*DNS rebinding.*Add the name to SMKIT_ALLOWED_HOSTS/);
});
