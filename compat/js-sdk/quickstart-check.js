#!/usr/bin/env node
'use strict';

/*
 * Runs the README's official-JS-SDK quickstart (examples/js-quickstart) as
 * written against a fresh `webex serve --dev`: `node quickstart.js` with
 * alice's token, then index.html in headless Chromium (served from its own
 * origin, the SDK's browser bundle from the app's own node_modules). Each
 * must print every step through `unregistered`.
 *
 *   node quickstart-check.js        (WEBEX_BIN: the webex binary)
 */

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFile } = require('node:child_process');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const APP = path.join(REPO, 'examples', 'js-quickstart');
const BIN = process.env.WEBEX_BIN || path.join(REPO, 'target', 'debug', 'webex');
const STEPS = ['meetings:ready', 'registered: device ', 'joined ', 'roster: alice (IN_MEETING)', 'left', 'unregistered'];

/** `webex serve --dev` in a fresh directory; resolves with its URL and alice's token. */
function serveDev() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webex-quickstart-'));
  const child = spawn(BIN, ['serve', '--dev', '--listen', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`webex serve --dev printed no token in 30 s:\n${out}`)), 30_000);
    const onData = (chunk) => {
      out += chunk;
      const url = /listening on (\S+)/.exec(out);
      const token = /alice@example\.com\s+(?:created|found)\s+(\S+)/.exec(out);
      if (url && token) {
        clearTimeout(timer);
        resolve({ url: url[1], token: token[1], stop: () => child.kill('SIGTERM'), dir, output: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`webex serve --dev exited with ${code}:\n${out}`)));
  });
}

function assertSteps(text, where) {
  for (const s of STEPS) assert.ok(text.includes(s), `${where}: no "${s}" in:\n${text}`);
}

/** Serves `dir` read-only on 127.0.0.1 (the page's own origin). */
function staticServer(dir) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript' };
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const dev = await serveDev();
  try {
    const node = await new Promise((resolve) => {
      execFile('node', ['quickstart.js'], { cwd: APP, env: { ...process.env, WEBEX_URL: dev.url, WEBEX_ACCESS_TOKEN: dev.token }, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ error, text: stdout + stderr }),
      );
    });
    assert.equal(node.error, null, `node quickstart.js failed: ${node.error}\n${node.text}`);
    assertSteps(node.text, 'node quickstart.js');
    console.log(`ok   node quickstart.js\n${node.text.replace(/^/gm, '       ')}`);

    const pages = await staticServer(APP);
    const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-chromium-')), {
      executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      const page = await context.newPage();
      const origin = `http://127.0.0.1:${pages.address().port}`;
      await page.goto(`${origin}/index.html#token=${encodeURIComponent(dev.token)}&server=${encodeURIComponent(dev.url)}`);
      await page.waitForFunction(() => /unregistered|error:/.test(document.getElementById('log').textContent), null, { timeout: 60_000 });
      const text = await page.textContent('#log');
      assertSteps(text, 'index.html in Chromium');
      console.log(`ok   index.html in Chromium\n${text.replace(/^/gm, '       ')}`);
    } finally {
      await context.close();
      pages.close();
    }
  } finally {
    dev.stop();
    fs.rmSync(dev.dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error.stack || String(error));
    process.exit(1);
  },
);
