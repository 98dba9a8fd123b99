'use strict';

// Unit tests of the harness's own logic (no server, no SDK).

const test = require('node:test');
const assert = require('node:assert/strict');
const { isLoopbackHost, installEgressGuard } = require('../lib/net-policy');
const { parseRouteCounts, diffRouteCounts } = require('../lib/metrics');
const { quantile, summarize } = require('../lib/bench');
const { deviceIdOf, withTimeout } = require('../lib/scenario');

test('loopback hosts are recognised and nothing else is', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1', 'ds.ciscospark.com', '127.0.0.1.example.com', '::ffff:8.8.8.8', '0.0.0.0', '']) {
    assert.ok(!isLoopbackHost(h), h);
  }
});

test('the egress guard refuses non-loopback destinations before connecting', async () => {
  const calls = [];
  class FakeSocket {
    connect(...args) {
      calls.push(args);
      return this;
    }
    destroy(error) {
      this.destroyedWith = error;
    }
  }
  const faults = [];
  const restore = installEgressGuard(FakeSocket, (d) => faults.push(d));
  const ok = new FakeSocket().connect({ host: '127.0.0.1', port: 80 });
  new FakeSocket().connect(443, 'localhost');
  new FakeSocket().connect({ path: '/tmp/sock' });
  const blocked = new FakeSocket();
  blocked.connect({ host: 'u2c.wbx2.com', port: 443 });
  const blockedPositional = new FakeSocket();
  blockedPositional.connect(443, 'ds.ciscospark.com');
  await new Promise((r) => process.nextTick(r));
  assert.equal(calls.length, 3, 'only loopback and pipe connections go through');
  assert.ok(ok instanceof FakeSocket);
  assert.match(String(blocked.destroyedWith), /egress to u2c\.wbx2\.com refused/);
  assert.match(String(blockedPositional.destroyedWith), /ds\.ciscospark\.com/);
  assert.deepEqual(faults, ['connection attempt to u2c.wbx2.com:443', 'connection attempt to ds.ciscospark.com:443']);
  restore();
  new FakeSocket().connect({ host: 'example.com', port: 1 });
  assert.equal(calls.length, 4, 'restore puts the original method back');
});

test('route counters are read from the Prometheus exposition and diffed', () => {
  const before = parseRouteCounts(
    [
      '# TYPE webex_http_request_seconds histogram',
      'webex_http_request_seconds_bucket{method="GET",route="/v1/people/me",status="200",le="0.1"} 1',
      'webex_http_request_seconds_count{method="GET",route="/v1/people/me",status="200"} 1',
      'webex_http_request_seconds_sum{method="GET",route="/v1/people/me",status="200"} 0.01',
    ].join('\n'),
  );
  const after = parseRouteCounts(
    [
      'webex_http_request_seconds_count{method="GET",route="/v1/people/me",status="200"} 3',
      'webex_http_request_seconds_count{route="unmatched",method="GET",status="404"} 1',
      'webex_http_request_seconds_count{method="POST",route="/wdm/api/v1/devices",status="200"} 1',
    ].join('\n'),
  );
  assert.deepEqual(diffRouteCounts(before, after), [
    { method: 'GET', route: '/v1/people/me', status: 200, count: 2 },
    { method: 'POST', route: '/wdm/api/v1/devices', status: 200, count: 1 },
    { method: 'GET', route: 'unmatched', status: 404, count: 1 },
  ]);
});

test('quantiles use the nearest rank', () => {
  const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
  assert.equal(quantile(values, 0.5), 5);
  assert.equal(quantile(values, 0.9), 9);
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, median: 2, p90: 3, min: 1, max: 3 });
});

test('the device id is the last segment of the device URL', () => {
  assert.equal(deviceIdOf('http://127.0.0.1:9/wdm/api/v1/devices/abc-1'), 'abc-1');
});

test('the hang guard rejects a promise that never settles', async () => {
  await assert.rejects(withTimeout(new Promise(() => {}), 10, 'never'), /never: no answer within 10 ms/);
  assert.equal(await withTimeout(Promise.resolve(7), 1000, 'now'), 7);
});

test('a member is found by person id, else by email', () => {
  const { memberOf } = require('../lib/meeting-scenario');
  const list = [
    { id: 'p1', personId: 'u-a', email: 'a@example.com' },
    { id: 'p2', personId: 'u-b', email: null },
  ];
  assert.equal(memberOf(list, { userId: 'u-b', email: 'b@example.com' }).id, 'p2');
  assert.equal(memberOf(list, { userId: 'other', email: 'a@example.com' }).id, 'p1');
  assert.equal(memberOf(list, { userId: 'x', email: 'x@example.com' }), undefined);
});

test('the meeting run accepts only 2xx and the WebSocket upgrade', () => {
  const { meetingStatusOk } = require('../lib/meeting-scenario');
  const row = (status) => ({ method: 'POST', route: '/locus/api/v1/loci/call', status, count: 1 });
  for (const s of [101, 200, 204]) assert.ok(meetingStatusOk(s, row(s)), String(s));
  for (const s of [401, 404, 500]) assert.ok(!meetingStatusOk(s, row(s)), String(s));
});

test('with a quirk on, only that quirk\'s own answers are forgiven', () => {
  const q = require('../lib/quirks');
  const saved = process.env.WEBEX_CLOUD_QUIRKS;
  try {
    const join = { method: 'POST', url: 'http://h/locus/api/v1/loci/call?alternateRedirect=true', status: 404 };
    const followed = { ...join, url: `${join.url}&cloudQuirkRedirected=1` };
    const redirectRow = { method: 'POST', route: 'quirk:locus-redirect', status: 404, count: 1 };
    delete process.env.WEBEX_CLOUD_QUIRKS;
    assert.ok(!q.isQuirkExchange(join));
    assert.ok(!q.isQuirkRoute(redirectRow));
    process.env.WEBEX_CLOUD_QUIRKS = 'cisco-location';
    assert.ok(!q.isQuirkExchange(join));
    assert.ok(q.isQuirkRoute({ method: 'GET', route: 'quirk:cisco-location', status: 200, count: 1 }));
    process.env.WEBEX_CLOUD_QUIRKS = 'all';
    assert.deepEqual(q.quirks(), { locusRedirect: true, ciscoLocation: true });
    assert.ok(q.isQuirkExchange(join));
    assert.ok(!q.isQuirkExchange(followed), 'a 404 after the hop is a real failure');
    assert.ok(!q.isQuirkExchange({ ...join, status: 500 }));
    assert.ok(q.isQuirkRoute(redirectRow));
    assert.ok(!q.isQuirkRoute({ ...redirectRow, route: '/locus/api/v1/loci/call' }));
  } finally {
    if (saved === undefined) delete process.env.WEBEX_CLOUD_QUIRKS;
    else process.env.WEBEX_CLOUD_QUIRKS = saved;
  }
});
