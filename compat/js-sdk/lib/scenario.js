'use strict';

/*
 * The compatibility scenario, identical for both runtimes: every step is
 * asserted, every step has a hang guard, and what the SDK and the server saw
 * is checked afterwards (statuses, unhandled rejections, egress).
 */

const assert = require('node:assert/strict');
const path = require('node:path');
const crypto = require('node:crypto');
const { WebexServer } = require('./server');
const { diffRouteCounts } = require('./metrics');
const { withTimeout, eventually, deviceIdOf } = require('./scenario-util');
const { runMeetingScenario, meetingStatusOk } = require('./meeting-scenario');
const { runMixedScenario } = require('./mixed-scenario');
const { runLobbyScenario } = require('./lobby-scenario');
const { runMediaScenario } = require('./media-scenario');
const { runManyMediaScenario } = require('./many-media-scenario');
const { runRustMediaScenario } = require('./rust-media-scenario');
const { quirks, isQuirkExchange, isQuirkRoute, isQuirkFault } = require('./quirks');

const STEP_TIMEOUT_MS = 30_000;

class Scenario {
  constructor(driver, log) {
    this.driver = driver;
    this.log = log;
    this.passed = 0;
    this.clients = [];
  }

  async step(name, fn, timeoutMs = STEP_TIMEOUT_MS) {
    const started = Date.now();
    try {
      const value = await withTimeout(Promise.resolve().then(fn), timeoutMs, name);
      this.passed += 1;
      this.log(`  ok   ${this.driver.name}: ${name} (${Date.now() - started} ms)`);
      return value;
    } catch (error) {
      this.log(`  FAIL ${this.driver.name}: ${name} (${Date.now() - started} ms)`);
      error.step = name;
      throw error;
    }
  }

  /** A final check: runs like a step, but a failure is kept and the next check still runs. */
  async check(name, fn) {
    try {
      await this.step(name, fn);
    } catch (error) {
      (this.failedChecks = this.failedChecks || []).push(error);
    }
  }

  /** Throws one error carrying every failed check, if any. */
  throwFailedChecks() {
    const failed = this.failedChecks || [];
    this.failedChecks = [];
    if (failed.length === 0) return;
    const error = new Error(failed.map((e) => `[${e.step}]\n${e.message}`).join('\n\n'));
    error.step = `${failed.length} final check(s)`;
    throw error;
  }

  async client(label, token, base, options = {}) {
    const client = await this.driver.createClient(`${label}-${this.clients.length}`, token, base, options);
    this.clients.push(client);
    return client;
  }

  async sdkLogs() {
    const out = [];
    for (const client of this.clients) {
      try {
        out.push(await withTimeout(client.call('logs'), 5_000, 'logs'));
      } catch (error) {
        out.push(`(SDK log unavailable: ${error.message})`);
      }
    }
    return out.join('\n');
  }

  async expectDevice(server, token, deviceUrl, present) {
    const { status, body } = await server.request('GET', '/wdm/api/v1/devices', { token });
    assert.equal(status, 200, `GET /wdm/api/v1/devices answered ${status}: ${JSON.stringify(body)}`);
    assert.ok(Array.isArray(body && body.devices), `no "devices" list in ${JSON.stringify(body)}`);
    const urls = body.devices.map((d) => d.url);
    assert.equal(urls.includes(deviceUrl), present, `device ${deviceUrl} ${present ? 'missing from' : 'still in'} ${JSON.stringify(urls)}`);
  }

  async connections(server, deviceId) {
    const { status, body } = await server.admin('GET', `/admin/api/v1/connections?deviceId=${encodeURIComponent(deviceId)}`);
    assert.equal(status, 200, `GET /admin/api/v1/connections answered ${status}: ${JSON.stringify(body)}`);
    assert.ok(Array.isArray(body && body.connections), `no "connections" list in ${JSON.stringify(body)}`);
    return body.connections;
  }

  /** One register → checks → event → unregister → checks cycle. */
  async cycle(server, sdk, token, round) {
    const reg = await this.step(`register() → meetings:registered (round ${round})`, () => sdk.call('register'));
    assert.ok(reg.deviceUrl, 'the SDK holds no device URL after register()');
    assert.ok(reg.mercuryConnected, 'Mercury is not connected after register()');
    assert.ok(reg.deviceUrl.startsWith(`${server.base}/wdm/api/v1/devices/`), `device URL ${reg.deviceUrl} is not under the WDM base`);
    const deviceId = deviceIdOf(reg.deviceUrl);

    await this.step('GET /wdm/api/v1/devices lists the device', () => this.expectDevice(server, token, reg.deviceUrl, true));
    await this.step('operator API shows an authenticated Mercury socket', () =>
      eventually(async () => {
        const conns = await this.connections(server, deviceId);
        assert.equal(conns.length, 1, `expected one socket for device ${deviceId}: ${JSON.stringify(conns)}`);
        const [c] = conns;
        assert.equal(c.deviceId, deviceId, `socket of another device: ${JSON.stringify(c)}`);
        assert.equal(c.authenticated, true, `socket not authenticated: ${JSON.stringify(c)}`);
        // device.ephemeral makes the SDK ask for multipleConnections=true.
        assert.equal(c.multipleConnections, true, `socket without multipleConnections: ${JSON.stringify(c)}`);
      }),
    );

    await this.step('published event reaches the SDK (event:compat.hello)', async () => {
      await sdk.call('armEvent', 'compat.hello');
      const { status, body } = await server.admin('POST', '/admin/api/v1/events', {
        deviceId,
        data: { eventType: 'compat.hello', n: round },
      });
      assert.ok(status >= 200 && status < 300, `POST /admin/api/v1/events answered ${status}: ${JSON.stringify(body)}`);
      const envelope = await withTimeout(sdk.call('awaitEvent', 'compat.hello'), 10_000, 'event delivery');
      assert.equal(typeof envelope.id, 'string', `event frame without an id: ${JSON.stringify(envelope)}`);
      assert.equal(envelope.data.eventType, 'compat.hello');
      assert.equal(envelope.data.n, round);
    });

    const unreg = await this.step(`unregister() → meetings:unregistered (round ${round})`, () => sdk.call('unregister'));
    assert.equal(unreg.deviceUrl, null, 'the SDK still holds a device after unregister()');
    await this.step('the device is gone from WDM', () => this.expectDevice(server, token, reg.deviceUrl, false));
    await this.step('the Mercury socket is closed (no connections)', () =>
      eventually(async () => {
        const conns = await this.connections(server, deviceId);
        assert.equal(conns.length, 0, `connections remain: ${JSON.stringify(conns)}`);
      }),
    );
    return { reg, unreg };
  }

  /** The full scenario against a fresh server. */
  async run() {
    const server = await this.step('webex serve on an ephemeral port, fresh database', () => WebexServer.start());
    try {
      const token = await this.step('webex token create', () => server.createToken('alice@example.com'));
      const before = await this.step('GET /metrics (before)', () => server.routeCounts());

      const sdk = await this.step(`load the SDK (${this.driver.name})`, () => this.client('alice', token, server.base));
      await this.step('Webex.init → meetings:ready', () => sdk.call('init'));
      await this.cycle(server, sdk, token, 1);
      await this.cycle(server, sdk, token, 2);

      const valid = await this.driver.drain();
      const middle0 = await this.step('GET /metrics (after the valid-token run)', () => server.routeCounts());

      // Before the invalid token: that client's batched metrics keep failing
      // (401) for a while after its register() rejected.
      this.log(`  -- ${this.driver.name}: two users in one meeting --`);
      const meeting = await runMeetingScenario(this, server);
      this.log(`  -- ${this.driver.name}: the JS SDK and the Rust SDK (webex meetings join) in one meeting --`);
      const mixed = await runMixedScenario(this, server);
      this.log(`  -- ${this.driver.name}: another org's person waits in the lobby and is admitted --`);
      const lobby = await runLobbyScenario(this, server);
      let media = null;
      let many = null;
      let rustMedia = null;
      if (this.driver.name === 'chromium') {
        this.log(`  -- ${this.driver.name}: two users with audio and video (addMedia, ROAP, ICE-lite SFU) --`);
        media = await runMediaScenario(this, server);
        this.log(`  -- ${this.driver.name}: three people, three browsers: mixed audio, the speaker's video, a screen share --`);
        many = await runManyMediaScenario(this, server, path.join(__dirname, '..', '.tmp'));
        this.log(`  -- ${this.driver.name}: the Rust SDK (webex meetings join, media, no browser) and the official SDK in one meeting --`);
        rustMedia = await runRustMediaScenario(this, server, path.join(__dirname, '..', '.tmp'));
      } else {
        this.log(`  skip ${this.driver.name}: the media scenario (addMedia needs WebRTC, which ${this.driver.name} lacks; it runs in Chromium)`);
      }
      const middle = await server.routeCounts();

      // An invalid token: register() must reject, not hang.
      const parts = token.split('_');
      const bogus = [crypto.randomBytes(16).toString('hex'), ...parts.slice(1)].join('_');
      const bad = await this.step('load the SDK with an invalid token', () => this.client('bogus', bogus, server.base));
      await this.step('Webex.init → meetings:ready (invalid token)', () => bad.call('init'));
      const outcome = await this.step('register() with an invalid token rejects', () => bad.call('registerExpectingRejection'));
      assert.equal(outcome.rejected, true, `register() resolved with an invalid token: ${JSON.stringify(outcome)}`);
      this.log(`       (rejected with: ${outcome.message.split("\n")[0]})`);
      const invalid = await this.driver.drain();
      const after = await this.step('GET /metrics (after the invalid-token run)', () => server.routeCounts());


      await this.check('every request of the valid-token run got a 2xx (server /metrics)', () =>
        assertStatuses(diffRouteCounts(before, middle0), (s) => s === 101 || (s >= 200 && s < 300)),
      );
      await this.check('the invalid-token run saw only 2xx and 401 (server /metrics)', () =>
        assertStatuses(diffRouteCounts(middle, after), (s) => s === 101 || s === 401 || (s >= 200 && s < 300)),
      );
      await this.check('every response the SDK received in the valid-token run was 2xx', () =>
        assertExchanges(valid.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
      );
      await this.check('the SDK saw only 2xx and 401 with the invalid token', () =>
        assertExchanges(invalid.exchanges, (s) => s === 101 || s === 401 || (s >= 200 && s < 300)),
      );
      await this.check('no unhandled rejection, page error, console error or egress (valid token)', () =>
        assertNoFaults(valid.faults),
      );
      await this.check('no unhandled rejection, page error or egress (invalid token)', () =>
        // The browser logs each 401 as a console error; those are the expected answers here.
        assertNoFaults(invalid.faults.filter((f) => f.kind !== 'console.error')),
      );
      await this.check('every request of the meeting run got a 2xx (server /metrics)', () =>
        assertStatuses(meeting.routes, meetingStatusOk),
      );
      await this.check('every response the SDK received in the meeting run was 2xx', () =>
        assertExchanges(meeting.seen.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
      );
      await this.check('no unhandled rejection, page error, SDK error log or egress (meeting run)', () =>
        assertNoFaults(meeting.seen.faults),
      );
      await this.check('every request of the mixed meeting (JS and Rust) got a 2xx (server /metrics)', () =>
        assertStatuses(mixed.routes, meetingStatusOk),
      );
      await this.check('every response the JS SDK received in the mixed meeting was 2xx', () =>
        assertExchanges(mixed.seen.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
      );
      await this.check('no unhandled rejection, page error, SDK error log or egress (mixed meeting)', () =>
        assertNoFaults(mixed.seen.faults),
      );
      await this.check('every request of the lobby run got a 2xx (server /metrics)', () =>
        assertStatuses(lobby.routes, meetingStatusOk),
      );
      await this.check('every response the SDK received in the lobby run was 2xx', () =>
        assertExchanges(lobby.seen.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
      );
      await this.check('no unhandled rejection, page error, SDK error log or egress (lobby run)', () =>
        assertNoFaults(lobby.seen.faults),
      );
      if (media) {
        await this.check('every request of the media meeting got a 2xx (server /metrics)', () =>
          assertStatuses(media.routes, meetingStatusOk),
        );
        await this.check('every response the SDK received in the media meeting was 2xx', () =>
          assertExchanges(media.seen.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
        );
        await this.check('no unhandled rejection, page error, SDK error log or egress (media meeting)', () =>
          assertNoFaults(media.seen.faults),
        );
      }
      if (many) {
        await this.check('every request of the meeting of three got a 2xx (server /metrics)', () =>
          assertStatuses(many.routes, meetingStatusOk),
        );
        await this.check('every response the SDK received in the meeting of three was 2xx', () =>
          assertExchanges(many.seen.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
        );
        await this.check('no unhandled rejection, page error, SDK error log or egress (meeting of three)', () =>
          assertNoFaults(many.seen.faults),
        );
      }
      if (rustMedia) {
        await this.check('every request of the Rust-and-browser media meeting got a 2xx (server /metrics)', () =>
          assertStatuses(rustMedia.routes, meetingStatusOk),
        );
        await this.check('every response the page received in the Rust-and-browser media meeting was 2xx', () =>
          assertExchanges(rustMedia.seen.exchanges, (s) => s === 101 || (s >= 200 && s < 300)),
        );
        await this.check('no unhandled rejection, page error, SDK error log or egress (Rust-and-browser media meeting)', () =>
          assertNoFaults(rustMedia.seen.faults),
        );
      }
      if (quirks().locusRedirect || quirks().ciscoLocation) {
        await this.check('the cloud quirks answered (server /metrics: quirk:* routes in the meeting run)', () => {
          const routes = new Set(meeting.routes.map((r) => r.route));
          if (quirks().locusRedirect) assert.ok(routes.has('quirk:locus-redirect'), `no Locus redirect: ${[...routes].join(', ')}`);
          if (quirks().ciscoLocation) assert.ok(routes.has('quirk:cisco-location'), `no cisco-location hop: ${[...routes].join(', ')}`);
        });
      }
      this.throwFailedChecks();
      this.consoleLines = valid.console.concat(invalid.console, meeting.seen.console, mixed.seen.console, lobby.seen.console, media ? media.seen.console : [], many ? many.seen.console : [], rustMedia ? rustMedia.seen.console : []);
      this.exchanges = {
        valid: valid.exchanges,
        invalid: invalid.exchanges,
        meeting: meeting.seen.exchanges,
        mixed: mixed.seen.exchanges,
        lobby: lobby.seen.exchanges,
        ...(media ? { media: media.seen.exchanges } : {}),
        ...(many ? { three: many.seen.exchanges } : {}),
        ...(rustMedia ? { rustMedia: rustMedia.seen.exchanges } : {}),
      };
      this.serverRoutes = {
        valid: diffRouteCounts(before, middle0),
        invalid: diffRouteCounts(middle, after),
        meeting: meeting.routes,
        mixed: mixed.routes,
        lobby: lobby.routes,
        ...(media ? { media: media.routes } : {}),
        ...(many ? { three: many.routes } : {}),
        ...(rustMedia ? { rustMedia: rustMedia.routes } : {}),
      };
      return server;
    } catch (error) {
      error.serverLog = server.logText();
      error.sdkLog = await this.sdkLogs();
      const rest = await this.driver.drain().catch(() => ({ console: [], faults: [], exchanges: [] }));
      error.details = rest;
      throw error;
    } finally {
      await server.stop();
    }
  }
}

function assertStatuses(rows, ok) {
  assert.ok(rows.length > 0, 'the server counted no request at all');
  const line = (r) => `  ${r.method} ${r.route} → ${r.status} ×${r.count}`;
  const bad = rows.filter((r) => !ok(r.status, r) && !isQuirkRoute(r));
  if (bad.length) {
    assert.fail(`the server answered:\n${bad.map(line).join('\n')}\nall requests it counted:\n${rows.map(line).join('\n')}`);
  }
}

function assertExchanges(exchanges, ok) {
  assert.ok(exchanges.length > 0, 'the SDK made no request at all');
  const bad = exchanges.filter((e) => !ok(e.status) && !isQuirkExchange(e));
  if (bad.length) {
    const line = (e) => `  ${e.method} ${e.url} → ${e.status}${e.error ? ` (${e.error})` : ''}`;
    assert.fail(`${bad.length} of ${exchanges.length} responses the SDK received:\n${bad.map(line).join('\n')}`);
  }
}

function assertNoFaults(all) {
  const faults = all.filter((f) => !isQuirkFault(f));
  if (faults.length) assert.fail(`faults:\n${faults.map((f) => `  ${f.kind}: ${f.detail}`).join('\n')}`);
}

module.exports = { Scenario, withTimeout, eventually, deviceIdOf };
