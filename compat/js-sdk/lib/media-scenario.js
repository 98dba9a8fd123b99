'use strict';

/*
 * The media scenario, Chromium only (Node has no WebRTC): two users, each in
 * a page of their own with Chromium's fake camera and microphone, join one
 * meeting and call `addMedia()` with local microphone and camera streams (the
 * SDK's transcoded path: ROAP over `PUT {selfUrl}/media`, ICE-lite answer).
 * Each page must then decode the other's audio and video (inbound-rtp
 * `packetsReceived` and `framesDecoded` from the SDK's own peer connection),
 * A's microphone mute must reach B's roster, and once both left the server
 * must hold no media session. Every request must get a 2xx and the SDK must
 * log no error (checked by the caller).
 */

const assert = require('node:assert/strict');
const { diffRouteCounts } = require('./metrics');
const { eventually } = require('./scenario-util');
const { memberOf } = require('./meeting-scenario');

/** What each page must have received before media counts as flowing. */
const MIN_AUDIO_PACKETS = 50;
const MIN_VIDEO_FRAMES = 20;
/** How long media may take to flow once addMedia() resolved. */
const FLOW_TIMEOUT_MS = 40_000;
/** The window over which the steady rates are measured. */
const RATE_WINDOW_MS = 3_000;
/** Opus sends a packet per 20 ms: one sender gives ≈50/s, two interleaved ≈100/s. */
const AUDIO_RATE = { min: 25, max: 75 };
/** Chromium's fake camera runs at 20 fps; a frozen or starved stream decodes far fewer. */
const MIN_VIDEO_FPS = 5;
/** addMedia() may spend 20 s on ICE, then retry once: the SDK's own bound. */
const ADD_MEDIA_TIMEOUT_MS = 60_000;

function show(value) {
  return JSON.stringify(value);
}

const ms = (v) => (v === null || v === undefined ? 'n/a' : `${Math.round(v)} ms`);

/** The server process's CPU time (user + system) in seconds, from /proc; null elsewhere. */
function serverCpuSeconds(server) {
  try {
    const stat = require('node:fs').readFileSync(`/proc/${server.child.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** The server's media sessions (operator API). */
async function mediaSessions(server) {
  const { status, body } = await server.admin('GET', '/admin/api/v1/media/sessions');
  assert.equal(status, 200, `GET /admin/api/v1/media/sessions answered ${status}: ${show(body)}`);
  assert.ok(Array.isArray(body && body.sessions), `no "sessions" list in ${show(body)}`);
  return body;
}

/**
 * Runs the media scenario on `scenario` against `server`; returns what the
 * final checks need.
 */
async function runMediaScenario(scenario, server) {
  const step = scenario.step.bind(scenario);
  const log = (line) => scenario.log(`       ${line}`);
  const mia = { email: 'mia@example.com', name: 'A' };
  const max = { email: 'max@example.com', name: 'B' };
  mia.token = await step('webex token create (mia, max)', async () => {
    max.token = await server.createToken(max.email);
    return server.createToken(mia.email);
  });
  const address = mia.email;
  const before = await step('GET /metrics (before the media meeting)', () => server.routeCounts());

  await step('the server has media on and no media session', async () => {
    const body = await mediaSessions(server);
    assert.equal(body.enabled, true, `media is off on the server: ${show(body)}`);
    assert.deepEqual(body.sessions, [], `sessions before the meeting: ${show(body.sessions)}`);
  });

  const a = await step('load two SDK instances, a page each (mia, max)', async () => {
    max.sdk = await scenario.client('media-max', max.token, server.base);
    return scenario.client('media-mia', mia.token, server.base);
  });
  const b = max.sdk;
  mia.sdk = a;
  await step('both: Webex.init → register()', async () => {
    await Promise.all([a.call('init'), b.call('init')]);
    const [ra, rb] = await Promise.all([a.call('register'), b.call('register')]);
    mia.userId = ra.userId;
    max.userId = rb.userId;
    assert.ok(ra.mercuryConnected && rb.mercuryConnected, 'Mercury is not connected after register()');
  });

  const meetingA = await step(`A: create("${address}") → join() → isJoined()`, async () => {
    const meeting = await a.call('createMeeting', address);
    const joined = await a.call('join', meeting.id);
    assert.equal(joined.isJoined, true, `A is not joined: ${show(joined)}`);
    return joined;
  });
  const meetingB = await step('B: create(same address) → join() → same Locus', async () => {
    const meeting = await b.call('createMeeting', address);
    const joined = await b.call('join', meeting.id);
    assert.equal(joined.isJoined, true, `B is not joined: ${show(joined)}`);
    assert.equal(joined.locusUrl, meetingA.locusUrl, 'B landed in another Locus than A');
    return joined;
  });

  const added = await step(
    'both: addMedia({localStreams: {microphone, camera}}) resolves',
    async () => {
      const [ra, rb] = await Promise.all([a.call('addMedia', meetingA.id), b.call('addMedia', meetingB.id)]);
      return { a: ra, b: rb };
    },
    ADD_MEDIA_TIMEOUT_MS,
  );
  log(`addMedia() resolved after: A ${ms(added.a.addMediaMs)}, B ${ms(added.b.addMediaMs)}`);

  const flowing = await step(
    `both: inbound audio > ${MIN_AUDIO_PACKETS} packets and video > ${MIN_VIDEO_FRAMES} decoded frames (getStats)`,
    () =>
      eventually(async () => {
        const [sa, sb] = await Promise.all([a.call('mediaStats', meetingA.id), b.call('mediaStats', meetingB.id)]);
        for (const [who, s] of [['A', sa], ['B', sb]]) {
          assert.ok(
            s.audio.packetsReceived > MIN_AUDIO_PACKETS && s.video.framesDecoded > MIN_VIDEO_FRAMES,
            `${who} has not received enough yet: ${show(s)}`,
          );
        }
        return { a: sa, b: sb };
      }, FLOW_TIMEOUT_MS),
    FLOW_TIMEOUT_MS + 5_000,
  );
  for (const [who, s] of [['A', flowing.a], ['B', flowing.b]]) {
    log(
      `${who}: first decoded frame ${ms(s.firstFrameMs)} after addMedia() started; ` +
        `audio ${s.audio.packetsReceived} packets (${s.audio.packetsLost} lost), ` +
        `video ${s.video.framesDecoded} frames decoded (${s.video.frameWidth}x${s.video.frameHeight}, ${s.video.packetsReceived} packets); ` +
        `media:ready ${s.ready.join(',')}`,
    );
  }

  const rates = await step(`both: media keeps flowing over ${RATE_WINDOW_MS / 1000} s (audio ${AUDIO_RATE.min}–${AUDIO_RATE.max} packets/s, video ≥ ${MIN_VIDEO_FPS} fps)`, async () => {
    const cpu0 = serverCpuSeconds(server);
    await new Promise((r) => setTimeout(r, RATE_WINDOW_MS));
    const cpu1 = serverCpuSeconds(server);
    const [sa, sb] = await Promise.all([a.call('mediaStats', meetingA.id), b.call('mediaStats', meetingB.id)]);
    if (cpu0 !== null && cpu1 !== null) {
      const share = (100 * (cpu1 - cpu0)) / (RATE_WINDOW_MS / 1000);
      log(`server CPU over the window: ${share.toFixed(1)} % of a core for 2 media sessions (${(share / 2).toFixed(1)} % per session; server RUST_LOG=${server.env.RUST_LOG})`);
    }
    const out = {};
    for (const [who, s0, s1] of [['A', flowing.a, sa], ['B', flowing.b, sb]]) {
      const secs = RATE_WINDOW_MS / 1000;
      const audio = (s1.audio.packetsReceived - s0.audio.packetsReceived) / secs;
      const video = (s1.video.framesDecoded - s0.video.framesDecoded) / secs;
      out[who] = { audio, video, s: s1 };
      log(
        `${who}: after ${secs} s more: audio ${s1.audio.packetsReceived} packets (${audio.toFixed(1)}/s, ${s1.audio.packetsLost} lost), ` +
          `video ${s1.video.framesDecoded} frames decoded (${video.toFixed(1)} fps)`,
      );
    }
    for (const [who, r] of Object.entries(out)) {
      assert.ok(r.audio >= AUDIO_RATE.min && r.audio <= AUDIO_RATE.max, `${who}: audio at ${r.audio.toFixed(1)} packets/s: ${show(r.s)}`);
      assert.ok(r.video >= MIN_VIDEO_FPS, `${who}: video at ${r.video.toFixed(1)} fps: ${show(r.s)}`);
    }
    return out;
  });

  await step('the server shows two connected media sessions', async () => {
    const body = await mediaSessions(server);
    assert.equal(body.sessions.length, 2, `sessions: ${show(body.sessions)}`);
    for (const s of body.sessions) assert.equal(s.state, 'connected', `session: ${show(s)}`);
  });

  await step("A: microphone.setUserMuted(true) → B's roster shows A's audio muted", async () => {
    const lastBefore = (await b.call('memberUpdates', meetingB.id)).pop();
    const unmuted = lastBefore && memberOf(lastBefore.full, mia);
    assert.ok(unmuted && unmuted.isAudioMuted === false, `A is not shown unmuted in B's roster before the mute: ${show(unmuted)}`);
    const muted = await a.call('muteMicrophone', meetingA.id, true);
    assert.equal(muted.userMuted, true, `the microphone is not muted: ${show(muted)}`);
    await eventually(async () => {
      const updates = await b.call('memberUpdates', meetingB.id);
      const last = updates[updates.length - 1];
      assert.ok(last, 'B received no members:update');
      const m = memberOf(last.full, mia);
      assert.ok(m, `A is not in B's roster: ${show(last.full)}`);
      assert.equal(m.isAudioMuted, true, `A in B's roster: ${show(m)}`);
      assert.equal(m.isVideoMuted, false, `A in B's roster: ${show(m)}`);
    }, 10_000);
    const body = await mediaSessions(server);
    const session = body.sessions.find((s) => s.participantId === meetingA.selfId);
    assert.ok(session, `no media session of A (${meetingA.selfId}): ${show(body.sessions)}`);
    assert.equal(session.audioMuted, true, `A's media session: ${show(session)}`);
    assert.equal(session.videoMuted, false, `A's media session: ${show(session)}`);
  });

  await step('both: leave() → the server holds no media session', async () => {
    await Promise.all([a.call('leave', meetingA.id), b.call('leave', meetingB.id)]);
    await Promise.all([a.call('stopLocalStreams', meetingA.id), b.call('stopLocalStreams', meetingB.id)]);
    await eventually(async () => {
      const body = await mediaSessions(server);
      assert.deepEqual(body.sessions, [], `sessions after both left: ${show(body.sessions)}`);
    }, 10_000);
  });

  await step('both: unregister()', () => Promise.all([a.call('unregister'), b.call('unregister')]));

  const seen = await scenario.driver.drain();
  const after = await step('GET /metrics (after the media meeting)', () => server.routeCounts());
  return { seen, routes: diffRouteCounts(before, after), figures: { added, flowing, rates } };
}

module.exports = { runMediaScenario };
