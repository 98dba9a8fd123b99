'use strict';

/*
 * The lobby scenario, identical for both runtimes: a person of another org
 * calls `join()` on lia's personal room and waits in the lobby
 * (`meeting:self:lobbyWaiting` inside `join()`, `isUserUnadmitted`, state
 * IDLE); lia's roster shows them `IN_LOBBY`; lia `admit()`s them
 * (`PUT {locusUrl}/controls`); they are in (`meeting:self:guestAdmitted`,
 * state JOINED, `isJoined()`), and lia's roster shows them `IN_MEETING`.
 * Every request must get a 2xx and the SDK must log no error.
 */

const assert = require('node:assert/strict');
const { diffRouteCounts } = require('./metrics');
const { eventually } = require('./scenario-util');
const { memberOf } = require('./meeting-scenario');

function show(value) {
  return JSON.stringify(value);
}

/** The status lia's latest `members:update` gives `who`. */
async function statusIn(client, meetingId, who) {
  const updates = await client.call('memberUpdates', meetingId);
  const last = updates[updates.length - 1];
  assert.ok(last, 'no members:update');
  const m = memberOf(last.full, who);
  assert.ok(m, `not in the roster: ${show(last.full)}`);
  return m;
}

/**
 * Runs the lobby scenario on `scenario` against `server`; returns what the
 * final checks need.
 */
async function runLobbyScenario(scenario, server) {
  const step = scenario.step.bind(scenario);
  // Fresh people, so the other scenarios' meetings do not matter.
  const host = { email: 'lia@example.com' };
  const visitor = { email: 'vic@partner.example' };
  host.token = await step('webex token create (lia of example.com, vic of partner.example)', async () => {
    visitor.token = await server.createToken(visitor.email);
    return server.createToken(host.email);
  });
  const before = await step('GET /metrics (before the lobby)', () => server.routeCounts());
  const h = await step('load two SDK instances (lia, vic)', async () => {
    visitor.sdk = await scenario.client('lobby-vic', visitor.token, server.base);
    return scenario.client('lobby-lia', host.token, server.base);
  });
  const v = visitor.sdk;
  await step('both: Webex.init → register()', async () => {
    await Promise.all([h.call('init'), v.call('init')]);
    const [rh, rv] = await Promise.all([h.call('register'), v.call('register')]);
    host.userId = rh.userId;
    visitor.userId = rv.userId;
  });

  const hostMeeting = await step(`lia: create("${host.email}") → join() → isJoined()`, async () => {
    const meeting = await h.call('createMeeting', host.email);
    const joined = await h.call('join', meeting.id);
    assert.equal(joined.isJoined, true, `lia is not joined: ${show(joined)}`);
    return joined;
  });

  const waiting = await step('vic (another org): create → join() → in the lobby (meeting:self:lobbyWaiting)', async () => {
    const meeting = await v.call('createMeeting', host.email);
    const joined = await v.call('join', meeting.id);
    assert.equal(joined.locusUrl, hostMeeting.locusUrl, 'vic landed in another Locus');
    assert.equal(joined.isUserUnadmitted, true, `vic is not unadmitted: ${show(joined)}`);
    assert.equal(joined.state, 'IDLE', `vic's meeting state: ${show(joined)}`);
    assert.equal(joined.isJoined, false, 'vic counts as joined while waiting');
    const events = await v.call('selfEvents', meeting.id);
    assert.deepEqual(events.map((e) => e.event), ['meeting:self:lobbyWaiting'], show(events));
    return meeting;
  });

  const inLobby = await step("lia: members:update shows vic IN_LOBBY", () =>
    eventually(async () => {
      const m = await statusIn(h, hostMeeting.id, visitor);
      assert.equal(m.status, 'IN_LOBBY', `vic in lia's roster: ${show(m)}`);
      return m;
    }, 10_000),
  );

  // Admission also opens vic's data-channel socket; leaving while it is
  // still connecting makes the SDK reject an unhandled promise ("Mercury
  // Connection Aborted for llm-default-session"), so the step waits for it.
  await step('lia: admit(vic) → vic: meeting:self:guestAdmitted, JOINED, data channel connected', async () => {
    await h.call('admit', hostMeeting.id, [inLobby.id]);
    await eventually(async () => {
      const events = await v.call('selfEvents', waiting.id);
      assert.ok(events.some((e) => e.event === 'meeting:self:guestAdmitted'), `no guestAdmitted: ${show(events)}`);
      const status = await v.call('status', waiting.id);
      assert.equal(status.state, 'JOINED', show(status));
      assert.equal(status.isUserUnadmitted, false, show(status));
      assert.equal(status.isJoined, true, show(status));
      assert.equal(status.llmConnected, true, `vic's data channel: ${show(status)}`);
    }, 10_000);
  });

  await step('lia: members:update shows vic IN_MEETING', () =>
    eventually(async () => {
      const m = await statusIn(h, hostMeeting.id, visitor);
      assert.equal(m.status, 'IN_MEETING', `vic in lia's roster: ${show(m)}`);
    }, 10_000),
  );

  await step('vic: leave(); lia: endMeetingForAll(); both unregister()', async () => {
    await v.call('leave', waiting.id);
    await h.call('endMeetingForAll', hostMeeting.id);
    await Promise.all([h.call('unregister'), v.call('unregister')]);
  });

  const seen = await scenario.driver.drain();
  const after = await step('GET /metrics (after the lobby)', () => server.routeCounts());
  return { seen, routes: diffRouteCounts(before, after) };
}

module.exports = { runLobbyScenario };
