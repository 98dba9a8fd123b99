'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fakeMedia, nearestColour } = require('../lib/fake-media');

test('fake media files have the shapes Chromium reads', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-media-'));
  try {
    const { audio, video } = fakeMedia(dir, 'x', { hz: 440, rgb: [255, 0, 0] });
    const wav = fs.readFileSync(audio);
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.readUInt32LE(24), 48_000);
    assert.equal(wav.readUInt16LE(34), 16);
    assert.equal(wav.readUInt32LE(40), wav.length - 44);
    const y4m = fs.readFileSync(video);
    const header = y4m.toString('ascii', 0, y4m.indexOf(0x0a));
    assert.match(header, /^YUV4MPEG2 W320 H240 F20:1 .*C420jpeg$/);
    const frame = 6 + 320 * 240 * 1.5;
    assert.equal(y4m.length, header.length + 1 + 20 * frame);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a received colour is matched to the nearest of a palette', () => {
  const palette = { red: [220, 40, 40], blue: [40, 70, 220] };
  assert.equal(nearestColour([200, 60, 50], palette), 'red');
  assert.equal(nearestColour([30, 80, 250], palette), 'blue');
  assert.equal(nearestColour(null, palette), null);
});
