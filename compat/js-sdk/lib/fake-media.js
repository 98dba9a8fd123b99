'use strict';

/*
 * Files for Chromium's fake capture devices (`--use-file-for-fake-audio-capture`,
 * `--use-file-for-fake-video-capture`): a person who sounds like a steady
 * tone of their own and looks like a flat colour of their own, so that a
 * page can tell from what it receives whose audio and video it is.
 */

const fs = require('node:fs');
const path = require('node:path');

/** 16-bit mono PCM WAV of a sine at `hz`, `seconds` long (Chromium loops it). */
function toneWav(file, hz, { seconds = 2, rate = 48_000, amplitude = 0.3 } = {}) {
  const n = Math.round(seconds * rate);
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i += 1) {
    data.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([header, data]));
}

/** RGB → full-range BT.601 YCbCr (what C420jpeg means). */
function ycbcr([r, g, b]) {
  const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
  return [
    clamp(0.299 * r + 0.587 * g + 0.114 * b),
    clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b),
    clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b),
  ];
}

/** A Y4M clip of `frames` frames of one flat `rgb` colour. */
function colourY4m(file, rgb, { width = 320, height = 240, fps = 20, frames = 20 } = {}) {
  const [y, u, v] = ycbcr(rgb);
  const luma = Buffer.alloc(width * height, y);
  const cb = Buffer.alloc((width / 2) * (height / 2), u);
  const cr = Buffer.alloc((width / 2) * (height / 2), v);
  const parts = [Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  for (let i = 0; i < frames; i += 1) parts.push(Buffer.from('FRAME\n'), luma, cb, cr);
  fs.writeFileSync(file, Buffer.concat(parts));
}

/** Writes a person's fake microphone and camera files into `dir`. */
function fakeMedia(dir, name, { hz, rgb }) {
  fs.mkdirSync(dir, { recursive: true });
  const audio = path.join(dir, `${name}-${hz}hz.wav`);
  const video = path.join(dir, `${name}.y4m`);
  toneWav(audio, hz);
  colourY4m(video, rgb);
  return { audio, video };
}

/** Which of `palette` ({name: [r, g, b]}) `rgb` is closest to, or null. */
function nearestColour(rgb, palette) {
  if (!rgb) return null;
  let best = null;
  let bestDistance = Infinity;
  for (const [name, c] of Object.entries(palette)) {
    const d = (rgb[0] - c[0]) ** 2 + (rgb[1] - c[1]) ** 2 + (rgb[2] - c[2]) ** 2;
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

module.exports = { fakeMedia, nearestColour, toneWav, colourY4m };
