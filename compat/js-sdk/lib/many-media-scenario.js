'use strict';

/*
 * Media for many, Chromium only: three people, each in a Chromium of their
 * own whose fake microphone plays a tone of their own and whose fake camera
 * shows a colour of their own (lib/fake-media.js), join one meeting and
 * `addMedia()`. The official SDK's transcoded client has one audio and one
 * video slot, so the server must send each page ONE mixed audio stream (one
 * stream's packet rate) of the others, and the active speaker's video:
 *
 * - only A talks (B and C mute their microphones): B and C hear A's tone
 *   and see A's colour, the server says they watch A;
 * - then only B talks: A and C hear B and see B; B, the speaker, sees the
 *   previous speaker A;
 * - across both switches every page keeps decoding video and the RTP
 *   timestamps it renders never go back;
 * - C shares a screen (a canvas, `publishStreams({screenShare})`, the Locus
 *   content floor): A and B get `meeting:startedSharingRemote` naming C and
 *   decode the share on the slides m-line; C stops: `stoppedSharingRemote`;
 * - after everyone left the server holds no media session.
 */

const assert = require('node:assert/strict');
const path = require('node:path');
const { diffRouteCounts } = require('./metrics');
const { eventually } = require('./scenario-util');
const { fakeMedia, nearestColour } = require('./fake-media');

const PEOPLE = [
  { key: 'A', email: 'ana@example.com', hz: 350, colour: 'red', rgb: [220, 40, 40] },
  { key: 'B', email: 'ben@example.com', hz: 560, colour: 'green', rgb: [40, 200, 60] },
  { key: 'C', email: 'cy@example.com', hz: 810, colour: 'blue', rgb: [40, 70, 220] },
];
const PALETTE = { red: [220, 40, 40], green: [40, 200, 60], blue: [40, 70, 220], yellow: [255, 255, 0] };
/** One mixed stream: Opus every 20 ms ≈ 50/s; two forwarded streams would be ≈ 100/s. */
const AUDIO_RATE = { min: 25, max: 75 };
const MIN_VIDEO_FPS = 5;
const RATE_WINDOW_MS = 3_000;
/** The speaker's tone must stand this far (dB) above the other two in what a page hears. */
const TONE_MARGIN_DB = 15;
const ADD_MEDIA_TIMEOUT_MS = 60_000;
const FLOW_TIMEOUT_MS = 40_000;
/** The switch needs ≈ 1 s of lead, a keyframe and the analyser to settle. */
const SWITCH_TIMEOUT_MS = 20_000;

const show = (v) => JSON.stringify(v);

async function mediaSessions(server) {
  const { status, body } = await server.admin('GET', '/admin/api/v1/media/sessions');
  assert.equal(status, 200, `GET /admin/api/v1/media/sessions answered ${status}: ${show(body)}`);
  return body.sessions;
}

/** Asserts that `listener` hears `speaker`'s tone above everyone else's. */
async function assertHears(listener, speaker) {
  const levels = await listener.sdk.call('remoteAudioLevels', listener.meeting.id, PEOPLE.map((p) => p.hz));
  assert.ok(levels, `${listener.key} has no remote audio`);
  const byKey = Object.fromEntries(PEOPLE.map((p, i) => [p.key, levels[i]]));
  for (const p of PEOPLE) {
    if (p.key === speaker.key) continue;
    assert.ok(
      byKey[speaker.key] > byKey[p.key] + TONE_MARGIN_DB,
      `${listener.key} should hear ${speaker.key}'s ${speaker.hz} Hz above ${p.key}'s ${p.hz} Hz by ${TONE_MARGIN_DB} dB: ${show(byKey)} dB`,
    );
  }
  return byKey;
}

/** Asserts that `viewer`'s main video shows `shown`'s colour and the server agrees. */
async function assertSees(viewer, shown, sessions) {
  const v = await viewer.sdk.call('remoteVideo', viewer.meeting.id, 'remoteVideo');
  const colour = nearestColour(v.color, PALETTE);
  assert.equal(colour, shown.colour, `${viewer.key} should see ${shown.key} (${shown.colour}), sees ${show(v.color)} (${colour})`);
  const session = sessions.find((s) => s.participantId === viewer.meeting.selfId);
  assert.ok(session, `no media session of ${viewer.key}: ${show(sessions)}`);
  assert.equal(session.watching, shown.meeting.selfId, `the server says ${viewer.key} watches ${session.watching}, not ${shown.key}`);
}

async function runManyMediaScenario(scenario, server, tmpDir) {
  const step = scenario.step.bind(scenario);
  const log = (line) => scenario.log(`       ${line}`);
  const people = PEOPLE.map((p) => ({ ...p }));
  const [a, b, c] = people;
  await step('webex token create (ana, ben, cy)', async () => {
    for (const p of people) p.token = await server.createToken(p.email);
  });
  const before = await step('GET /metrics (before the meeting of three)', () => server.routeCounts());

  await step('three Chromiums, each with its own fake microphone tone and camera colour', async () => {
    for (const p of people) {
      const files = fakeMedia(path.join(tmpDir, 'fake-media'), p.key, p);
      p.sdk = await scenario.client(`three-${p.key}`, p.token, server.base, { fakeMedia: files });
    }
  });
  await step('all three: Webex.init → register()', async () => {
    await Promise.all(people.map((p) => p.sdk.call('init')));
    await Promise.all(people.map((p) => p.sdk.call('register')));
  });
  await step(`all three: create("${a.email}") → join()`, async () => {
    for (const p of people) {
      const meeting = await p.sdk.call('createMeeting', a.email);
      p.meeting = await p.sdk.call('join', meeting.id);
      assert.equal(p.meeting.isJoined, true, `${p.key} is not joined: ${show(p.meeting)}`);
      assert.equal(p.meeting.locusUrl, a.meeting.locusUrl, `${p.key} landed in another Locus`);
    }
  });
  await step(
    'all three: addMedia({localStreams: {microphone, camera}})',
    () => Promise.all(people.map((p) => p.sdk.call('addMedia', p.meeting.id))),
    ADD_MEDIA_TIMEOUT_MS,
  );

  const flowing = await step('every page receives audio and decodes video', () =>
    eventually(async () => {
      const out = {};
      for (const p of people) {
        const s = await p.sdk.call('mediaStats', p.meeting.id);
        assert.ok(s.audio.packetsReceived > 50 && s.video.framesDecoded > 20, `${p.key}: ${show(s)}`);
        out[p.key] = s;
      }
      return out;
    }, FLOW_TIMEOUT_MS),
    FLOW_TIMEOUT_MS + 5_000,
  );

  await step(
    `every page gets ONE audio stream (${AUDIO_RATE.min}–${AUDIO_RATE.max} packets/s) with energy, and video ≥ ${MIN_VIDEO_FPS} fps`,
    async () => {
      await new Promise((r) => setTimeout(r, RATE_WINDOW_MS));
      for (const p of people) {
        const s0 = flowing[p.key];
        const s1 = await p.sdk.call('mediaStats', p.meeting.id);
        const secs = RATE_WINDOW_MS / 1000;
        const audio = (s1.audio.packetsReceived - s0.audio.packetsReceived) / secs;
        const video = (s1.video.framesDecoded - s0.video.framesDecoded) / secs;
        const energy = (s1.byMid['0'] || {}).totalAudioEnergy || 0;
        log(`${p.key}: audio ${audio.toFixed(1)} packets/s (energy ${energy.toFixed(3)}), video ${video.toFixed(1)} fps`);
        assert.ok(audio >= AUDIO_RATE.min && audio <= AUDIO_RATE.max, `${p.key}: audio at ${audio.toFixed(1)} packets/s: ${show(s1)}`);
        assert.ok(energy > 0, `${p.key}: the audio it receives has no energy: ${show(s1)}`);
        assert.ok(video >= MIN_VIDEO_FPS, `${p.key}: video at ${video.toFixed(1)} fps: ${show(s1)}`);
      }
    },
  );

  await step('only A talks (B and C mute): B and C hear A and see A; the server switched them to A', async () => {
    await Promise.all([b.sdk.call('muteMicrophone', b.meeting.id, true), c.sdk.call('muteMicrophone', c.meeting.id, true)]);
    await eventually(async () => {
      const sessions = await mediaSessions(server);
      for (const viewer of [b, c]) await assertSees(viewer, a, sessions);
      for (const listener of [b, c]) await assertHears(listener, a);
    }, SWITCH_TIMEOUT_MS);
    const levels = await assertHears(c, a);
    log(`C hears (dB): ${show(levels)}`);
  });

  await step('then only B talks: A and C hear and see B; B sees the previous speaker, A', async () => {
    await a.sdk.call('muteMicrophone', a.meeting.id, true);
    await b.sdk.call('muteMicrophone', b.meeting.id, false);
    await eventually(async () => {
      const sessions = await mediaSessions(server);
      for (const viewer of [a, c]) await assertSees(viewer, b, sessions);
      await assertSees(b, a, sessions);
      for (const listener of [a, c]) await assertHears(listener, b);
    }, SWITCH_TIMEOUT_MS);
  });

  await step('every page kept decoding video and its rendered RTP timestamps never went back', async () => {
    const first = {};
    for (const p of people) first[p.key] = await p.sdk.call('remoteVideo', p.meeting.id, 'remoteVideo');
    await new Promise((r) => setTimeout(r, 1_000));
    for (const p of people) {
      const v = await p.sdk.call('remoteVideo', p.meeting.id, 'remoteVideo');
      assert.ok(v.frames > first[p.key].frames, `${p.key}'s video stopped rendering: ${show(v)}`);
      assert.deepEqual(v.regressions, [], `${p.key}'s video went back in time: ${show(v.regressions)}`);
      log(`${p.key}: ${v.frames} frames rendered, no timestamp regression`);
    }
  });

  await step("C shares a screen (publishStreams): A and B get startedSharingRemote naming C and decode C's share", async () => {
    await c.sdk.call('startShare', c.meeting.id);
    await eventually(async () => {
      for (const viewer of [a, b]) {
        const { events } = await viewer.sdk.call('shareEvents', viewer.meeting.id);
        const started = events.filter((e) => e.event === 'meeting:startedSharingRemote');
        assert.ok(started.length > 0, `${viewer.key} saw no meeting:startedSharingRemote: ${show(events)}`);
        assert.equal(started[started.length - 1].memberId, c.meeting.selfId, `${viewer.key}: ${show(events)}`);
        const s = await viewer.sdk.call('mediaStats', viewer.meeting.id);
        const slides = s.byMid['2'] || {};
        assert.ok(slides.framesDecoded > 10, `${viewer.key} decoded ${slides.framesDecoded || 0} share frames: ${show(s.byMid)}`);
        const v = await viewer.sdk.call('remoteVideo', viewer.meeting.id, 'remoteShare');
        assert.equal(nearestColour(v.color, PALETTE), 'yellow', `${viewer.key}'s share shows ${show(v.color)}`);
      }
      const own = await c.sdk.call('shareEvents', c.meeting.id);
      assert.ok(own.events.some((e) => e.event === 'meeting:startedSharingLocal'), `C: ${show(own)}`);
    }, SWITCH_TIMEOUT_MS);
  });

  await step('C stops sharing (unpublishStreams): A and B get stoppedSharingRemote', async () => {
    await c.sdk.call('stopShare', c.meeting.id);
    await eventually(async () => {
      for (const viewer of [a, b]) {
        const { events } = await viewer.sdk.call('shareEvents', viewer.meeting.id);
        assert.equal(events[events.length - 1].event, 'meeting:stoppedSharingRemote', `${viewer.key}: ${show(events)}`);
      }
    }, 10_000);
  });

  await step('all three: leave() → the server holds no media session', async () => {
    await Promise.all(people.map((p) => p.sdk.call('leave', p.meeting.id)));
    await Promise.all(people.map((p) => p.sdk.call('stopLocalStreams', p.meeting.id)));
    await eventually(async () => assert.deepEqual(await mediaSessions(server), []), 10_000);
  });
  await step('all three: unregister()', () => Promise.all(people.map((p) => p.sdk.call('unregister'))));

  const seen = await scenario.driver.drain();
  const after = await step('GET /metrics (after the meeting of three)', () => server.routeCounts());
  await Promise.all(people.map((p) => p.sdk.close()));
  return { seen, routes: diffRouteCounts(before, after) };
}

module.exports = { runManyMediaScenario };
