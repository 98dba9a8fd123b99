'use strict';

/*
 * The Rust SDK and the official SDK in one meeting WITH media, Chromium only:
 * pia is the official SDK in a Chromium whose fake microphone plays 350 Hz
 * and whose camera shows red; rob is the Rust SDK as `webex meetings join
 * --tone 600 --send-video <H.264 file> --record-audio … --record-video …`
 * (a headless bot: no browser). Then:
 *
 * - the page receives rob's audio with energy (600 Hz above its own 350 Hz)
 *   and decodes rob's H.264 video;
 * - rob receives pia's audio and video; mute from either side shows in the
 *   other's roster (the page's `setUserMuted`, rob's `mute-audio` command);
 * - after rob leaves, its recordings read back (`webex media info`): the
 *   audio is Ogg Opus of the expected length whose dominant tone is pia's,
 *   the video Annex B H.264 with keyframes at the camera's 320×240;
 * - both clients' time from `addMedia()` / `add_media()` to their first
 *   remote audio packet is logged (BENCHMARKS.md §12).
 */

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { diffRouteCounts } = require('./metrics');
const { eventually } = require('./scenario-util');
const { fakeMedia } = require('./fake-media');
const { memberOf } = require('./meeting-scenario');
const { RustJoin } = require('./rust-client');

const PIA = { email: 'pia@example.com', name: 'pia', hz: 350, rgb: [220, 40, 40] };
const ROB = { email: 'rob@example.com', name: 'rob', hz: 600 };
const FIXTURE = path.join(__dirname, '..', '..', '..', 'crates', 'webex-cli', 'tests', 'fixtures', 'test-pattern.h264');
const TONE_MARGIN_DB = 15;
const FLOW_TIMEOUT_MS = 40_000;
/** How long both keep sending once media flows (rob records it). */
const HOLD_MS = 4_000;

const show = (v) => JSON.stringify(v);

/** Frames ffprobe decodes from `file`'s stream `stream`; null without ffprobe. */
function ffprobeFrames(file, stream) {
  try {
    const out = execFileSync(
      'ffprobe',
      ['-v', 'error', '-select_streams', stream, '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file],
      { encoding: 'utf8' },
    );
    return Number(out.trim());
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw new Error(`ffprobe could not decode ${file}: ${error.stderr || error.message}`);
  }
}

function mediaInfo(bin, file) {
  return JSON.parse(execFileSync(bin, ['media', 'info', '--json', file], { encoding: 'utf8' }));
}

/** rob's latest `media:stats` event. */
function lastStats(rust) {
  const all = rust.events.filter((e) => e.event === 'media:stats');
  return all[all.length - 1] || null;
}

async function runRustMediaScenario(scenario, server, tmpDir) {
  const step = scenario.step.bind(scenario);
  const log = (line) => scenario.log(`       ${line}`);
  const pia = { ...PIA };
  const rob = { ...ROB };
  fs.mkdirSync(tmpDir, { recursive: true });
  const recordedAudio = path.join(tmpDir, 'rob-heard.ogg');
  const recordedVideo = path.join(tmpDir, 'rob-saw.h264');
  for (const f of [recordedAudio, recordedVideo]) fs.rmSync(f, { force: true });

  await step('webex token create (pia, rob)', async () => {
    pia.token = await server.createToken(pia.email);
    rob.token = await server.createToken(rob.email);
  });
  const before = await step('GET /metrics (before the Rust-and-browser media meeting)', () => server.routeCounts());
  const page = await step('pia: the official SDK in a Chromium with a 350 Hz microphone and a red camera', () =>
    scenario.client('pia', pia.token, server.base, { fakeMedia: fakeMedia(path.join(tmpDir, 'fake-media'), 'pia', pia) }),
  );
  await step('pia: Webex.init → register() → create(own address) → join()', async () => {
    await page.call('init');
    await page.call('register');
    const meeting = await page.call('createMeeting', pia.email);
    pia.meeting = await page.call('join', meeting.id);
    assert.equal(pia.meeting.isJoined, true, show(pia.meeting));
  });

  const rust = RustJoin.start(server.bin, server.base, rob.token, pia.email, 'rust-media', [
    '--tone', String(rob.hz),
    '--send-video', FIXTURE,
    '--record-audio', recordedAudio,
    '--record-video', recordedVideo,
  ]);
  const joinedAt = Date.now();
  try {
    await step('rob: webex meetings join --tone 600 --send-video … --record-audio … --record-video … → joined', () =>
      rust.until('joined', (e) => e.event === 'joined', 20_000),
    );
    await step("rob's add_media() connects, then pia's addMedia() resolves", async () => {
      // rob first, so that pia's time to first audio is measured with rob sending.
      await rust.until('meeting:media:connected', (e) => e.event === 'meeting:media:connected', 30_000);
      await page.call('addMedia', pia.meeting.id);
    }, 60_000);

    const flowing = await step("pia hears rob's tone and decodes rob's H.264; rob receives pia's audio and video", () =>
      eventually(async () => {
        const s = await page.call('mediaStats', pia.meeting.id);
        assert.ok(s.audio.packetsReceived > 50 && s.video.framesDecoded > 20, `pia: ${show(s)}`);
        const levels = await page.call('remoteAudioLevels', pia.meeting.id, [rob.hz, pia.hz]);
        assert.ok(levels && levels[0] > levels[1] + TONE_MARGIN_DB, `pia should hear rob's ${rob.hz} Hz above ${pia.hz} Hz: ${show(levels)} dB`);
        const r = lastStats(rust);
        assert.ok(r && r.audio.packetsReceived > 50 && r.video.framesReceived > 20, `rob: ${show(r)}`);
        return { pia: s, rob: r, levels };
      }, FLOW_TIMEOUT_MS),
      FLOW_TIMEOUT_MS + 5_000,
    );
    log(
      `pia: ${flowing.pia.audio.packetsReceived} audio packets, ${flowing.pia.video.framesDecoded} frames of rob's video decoded ` +
        `(${flowing.pia.video.frameWidth}x${flowing.pia.video.frameHeight}), levels ${flowing.levels.map((l) => l.toFixed(1)).join(' / ')} dB`,
    );
    log(`rob: ${flowing.rob.audio.packetsReceived} audio packets, ${flowing.rob.video.framesReceived} video frames`);

    await step(`media keeps flowing both ways for ${HOLD_MS / 1000} s`, async () => {
      await new Promise((r) => setTimeout(r, HOLD_MS));
      const s = await page.call('mediaStats', pia.meeting.id);
      const r = lastStats(rust);
      const secs = HOLD_MS / 1000;
      const piaAudio = (s.audio.packetsReceived - flowing.pia.audio.packetsReceived) / secs;
      const robAudio = (r.audio.packetsReceived - flowing.rob.audio.packetsReceived) / secs;
      log(`over ${secs} s: pia ${piaAudio.toFixed(1)} audio packets/s, rob ${robAudio.toFixed(1)} audio packets/s`);
      assert.ok(piaAudio > 25 && robAudio > 25, `pia ${piaAudio}/s, rob ${robAudio}/s`);
    }, HOLD_MS + 10_000);

    await step('time to first remote audio, each joining while the others send: the official SDK (pia) and the Rust SDK (rex)', async () => {
      const rex = RustJoin.start(server.bin, server.base, await server.createToken('rex@example.com'), pia.email, 'rust-listener', [
        '--receive-only',
        '--leave-after', '2s',
      ]);
      try {
        const stats = await rex.until('first audio', (e) => e.event === 'media:stats' && e.audio.firstPacketMs !== null, 20_000);
        const exit = await rex.ended(20_000);
        assert.equal(exit.code, 0, rex.transcript());
        log(
          `first remote audio packet after addMedia() / add_media(): official SDK in Chromium ${Math.round(flowing.pia.firstAudioMs)} ms, ` +
            `Rust SDK ${stats.audio.firstPacketMs} ms (webex ${path.basename(path.dirname(server.bin))} build; BENCHMARKS.md §12)`,
        );
      } finally {
        await rex.kill();
      }
    }, 40_000);

    await step("rob: mute-audio → pia's roster shows rob muted", async () => {
      rust.command('mute-audio');
      await eventually(async () => {
        const updates = await page.call('memberUpdates', pia.meeting.id);
        const last = updates[updates.length - 1];
        const m = last && memberOf(last.full, rob);
        assert.ok(m && m.isAudioMuted === true, `rob in pia's roster: ${show(m)}`);
      }, 10_000);
    });
    await step("pia: setUserMuted(true) → rob's roster shows pia muted", async () => {
      await page.call('muteMicrophone', pia.meeting.id, true);
      await rust.until('pia muted', (e) => e.event === 'members:update' && (e.members || []).some((m) => m.email === pia.email && m.isAudioMuted === true), 10_000);
    });

    await step('rob: leave → exits 0', async () => {
      rust.command('leave');
      const exit = await rust.ended(20_000);
      assert.equal(exit.code, 0, rust.transcript());
    });
  } catch (error) {
    error.message += `\n${rust.transcript()}`;
    throw error;
  } finally {
    await rust.kill();
  }

  await step("rob's recordings read back: Ogg Opus with pia's 350 Hz, Annex B H.264 at 320×240 with keyframes", () => {
    const audio = mediaInfo(server.bin, recordedAudio);
    const video = mediaInfo(server.bin, recordedVideo);
    log(`audio: ${show(audio)}`);
    log(`video: ${show(video)}`);
    // rob recorded from its first packet until pia muted: at least the hold.
    assert.ok(audio.durationSecs >= HOLD_MS / 1000, `recorded audio shorter than the ${HOLD_MS} ms both sent: ${show(audio)}`);
    assert.ok(audio.durationSecs <= (Date.now() - joinedAt) / 1000, `recorded audio longer than rob was there: ${show(audio)}`);
    assert.ok(Math.abs(audio.dominantHz - pia.hz) <= 20, `recorded audio's tone: ${show(audio)}`);
    assert.equal(audio.undecodablePackets, 0, show(audio));
    assert.ok(video.keyframes >= 1 && video.accessUnits >= 20, `recorded video: ${show(video)}`);
    assert.equal(video.width, 320, show(video));
    assert.equal(video.height, 240, show(video));
    // And a real decoder decodes both (ffprobe; CI installs it).
    const decoded = ffprobeFrames(recordedVideo, 'v:0');
    const decodedAudio = ffprobeFrames(recordedAudio, 'a:0');
    if (decoded !== null) {
      log(`ffprobe decodes ${decoded} video frames and ${decodedAudio} audio frames`);
      assert.ok(decoded >= video.accessUnits - 1, `ffprobe decoded ${decoded} of ${video.accessUnits} access units`);
      assert.ok(decodedAudio >= audio.packets - 1, `ffprobe decoded ${decodedAudio} of ${audio.packets} audio packets`);
    } else if (process.env.CI === 'true') {
      throw new Error('ffprobe is missing (apt-get install ffmpeg): CI decodes the recordings');
    } else {
      log('ffprobe not installed: recordings not decoded by a second decoder');
    }
  });

  await step('pia: leave() → no media session left', async () => {
    await page.call('leave', pia.meeting.id);
    await page.call('stopLocalStreams', pia.meeting.id);
    await page.call('unregister');
    await eventually(async () => {
      const { body } = await server.admin('GET', '/admin/api/v1/media/sessions');
      assert.deepEqual(body.sessions, []);
    }, 10_000);
  });
  const seen = await scenario.driver.drain();
  const after = await step('GET /metrics (after the Rust-and-browser media meeting)', () => server.routeCounts());
  await page.close();
  return { seen, routes: diffRouteCounts(before, after) };
}

module.exports = { runRustMediaScenario };
