'use strict';

/*
 * The mixed meeting scenario: the official JS SDK (user A, in the runtime
 * under test) and the Rust SDK (user B, `webex meetings join --json` as a
 * child process) in one meeting. A creates and joins A's personal room; B
 * joins it; each sees the other in the roster; B leaves (SIGINT) and A sees
 * B gone; B joins again and A ends the meeting for everyone, which B sees as
 * `meeting:removed` and exits 0. Every request of both SDKs must get a 2xx.
 */

const assert = require('node:assert/strict');
const { diffRouteCounts } = require('./metrics');
const { eventually } = require('./scenario-util');
const { memberOf } = require('./meeting-scenario');
const { RustJoin } = require('./rust-client');

function show(value) {
  return JSON.stringify(value);
}

/** The status A's latest `members:update` gives `who`, or a reason it has none. */
async function statusInA(a, meetingId, who) {
  const updates = await a.call('memberUpdates', meetingId);
  const last = updates[updates.length - 1];
  assert.ok(last, 'A received no members:update');
  const m = memberOf(last.full, who);
  assert.ok(m, `not in A's roster: ${show(last.full)}`);
  return m.status;
}

/** Whether a Rust roster line lists `who` with `status`. */
function rustSees(event, who, status) {
  return (event.members || []).some((m) => (m.personId === who.userId || m.email === who.email) && m.status === status);
}

/**
 * Runs the mixed scenario on `scenario` against `server`; returns what the
 * final checks need (the JS SDK's requests and the server's route counts).
 */
async function runMixedScenario(scenario, server) {
  const step = scenario.step.bind(scenario);
  const ann = { email: 'ann@example.com' };
  const rob = { email: 'rob@example.com' };
  ann.token = await step('webex token create (ann: JS, rob: Rust)', async () => {
    rob.token = await server.createToken(rob.email);
    return server.createToken(ann.email);
  });
  const address = ann.email;
  const before = await step('GET /metrics (before the mixed meeting)', () => server.routeCounts());
  const running = [];
  const rust = (label) => {
    const p = RustJoin.start(server.bin, server.base, rob.token, address, label);
    running.push(p);
    return p;
  };

  try {
    const a = await step('A (JS): init → register()', async () => {
      const sdk = await scenario.client('mixed-ann', ann.token, server.base);
      await sdk.call('init');
      const reg = await sdk.call('register');
      ann.userId = reg.userId;
      return sdk;
    });

    const meeting = await step(`A (JS): create("${address}") → join()`, async () => {
      await a.call('watchMeetings');
      const created = await a.call('createMeeting', address);
      const joined = await a.call('join', created.id);
      assert.equal(joined.isJoined, true, `isJoined() is false after join(): ${show(joined)}`);
      return { id: created.id, locusUrl: joined.locusUrl };
    });

    const b1 = rust('rust-rob-1');
    await step('B (Rust): webex meetings join --json → same Locus', async () => {
      const joined = await b1.until('joined', (e) => e.event === 'joined');
      assert.equal(joined.locusUrl, meeting.locusUrl, `B landed in another Locus:\n${b1.transcript()}`);
      const self = joined.members.find((m) => m.isSelf);
      assert.ok(self && self.status === 'IN_MEETING' && self.email === rob.email, `B's self member: ${show(self)}`);
      rob.userId = self.personId;
    });

    await step('A (JS): members:update shows B IN_MEETING', () =>
      eventually(async () => assert.equal(await statusInA(a, meeting.id, rob), 'IN_MEETING'), 10_000),
    );

    await step('B (Rust): the roster shows A IN_MEETING, as host', async () => {
      const seen = await b1.until('A in the roster', (e) => rustSees(e, ann, 'IN_MEETING'));
      const host = seen.members.find((m) => m.email === ann.email || m.personId === ann.userId);
      assert.equal(host.isHost, true, `A is not the host in B's roster: ${show(host)}`);
      assert.equal(host.isSelf, false);
    });

    await step('B (Rust): Ctrl-C → leaves, exits 0 → A sees B NOT_IN_MEETING', async () => {
      b1.interrupt();
      await b1.until('left', (e) => e.event === 'left');
      const exit = await b1.ended();
      assert.deepEqual(exit, { code: 0, signal: null }, b1.transcript());
      await eventually(async () => assert.equal(await statusInA(a, meeting.id, rob), 'NOT_IN_MEETING'), 10_000);
    });

    const b2 = rust('rust-rob-2');
    await step('B (Rust): joins again → A sees B IN_MEETING, B sees A', async () => {
      const joined = await b2.until('joined', (e) => e.event === 'joined');
      assert.equal(joined.locusUrl, meeting.locusUrl, `B's second join landed elsewhere:\n${b2.transcript()}`);
      await b2.until('A in the roster', (e) => rustSees(e, ann, 'IN_MEETING'));
      await eventually(async () => assert.equal(await statusInA(a, meeting.id, rob), 'IN_MEETING'), 10_000);
    });

    await step('A (JS): endMeetingForAll() → meeting:removed on A and on B (Rust exits 0)', async () => {
      await a.call('endMeetingForAll', meeting.id);
      const removed = await b2.until('meeting:removed', (e) => e.event === 'meeting:removed');
      assert.equal(removed.reason, 'ended', b2.transcript());
      const exit = await b2.ended();
      assert.deepEqual(exit, { code: 0, signal: null }, b2.transcript());
      await eventually(async () => {
        const events = await a.call('meetingEvents');
        assert.ok(events.some((e) => e.event === 'meeting:removed' && e.meetingId === meeting.id), `no meeting:removed on A: ${show(events)}`);
      }, 10_000);
    });

    await step('B (Rust): no warning or error on stderr, only JSON on stdout', () => {
      for (const b of [b1, b2]) {
        assert.deepEqual(b.stdoutNoise, [], b.transcript());
        assert.ok(!b.stderr.some((l) => /warn|error/i.test(l)), b.transcript());
      }
    });

    await step('A (JS): unregister() → meetings:unregistered', () => a.call('unregister'));
  } finally {
    await Promise.all(running.map((p) => p.kill()));
  }

  const seen = await scenario.driver.drain();
  const after = await step('GET /metrics (after the mixed meeting)', () => server.routeCounts());
  return { seen, routes: diffRouteCounts(before, after) };
}

module.exports = { runMixedScenario };
