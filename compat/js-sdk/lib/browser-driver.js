'use strict';

/*
 * Runs the SDK's browser bundle in Debian's headless Chromium, driven by
 * playwright-core (no browser download). Each client's page comes from a
 * small static server on its own 127.0.0.1 port, so every SDK call is
 * cross-origin and CORS is exercised for real (no request interception), and
 * two users never share a localStorage.
 */

const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { isLoopbackHost } = require('./net-policy');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const BUNDLE = 'meetings.min.js';

const FILES = {
  '/': { file: path.join(__dirname, 'page', 'index.html'), type: 'text/html; charset=utf-8' },
  '/lib/sdk-client.js': { file: path.join(__dirname, 'sdk-client.js'), type: 'text/javascript' },
  [`/sdk/${BUNDLE}`]: {
    file: path.join(path.dirname(require.resolve('webex/package')), 'umd', BUNDLE),
    type: 'text/javascript',
  },
};

/** Serves the test page on 127.0.0.1 (an origin of its own). */
function startPageServer() {
  const server = http.createServer((req, res) => {
    const entry = FILES[new URL(req.url, 'http://x').pathname];
    if (!entry || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' });
    fs.createReadStream(entry.file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Launches Debian's Chromium headless with a profile of its own; `extraArgs`
 * are added to the usual flags (a client's own fake camera and microphone
 * files, say).
 */
async function launch(extraArgs) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webex-compat-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Belt and braces for "no traffic leaves 127.0.0.1": nothing else resolves.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      // Media (lib/media-scenario.js): a fake camera and microphone, no
      // permission prompt, ICE candidates on loopback (the only network
      // here; without it the SDK fails IceGatheringError), and remote
      // audio that plays without a user gesture.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
  return { context, userDataDir };
}

/** Closes a browser `launch` started and removes its profile. */
async function closeBrowser(browser) {
  await browser.context.close().catch(() => {});
  fs.rmSync(browser.userDataDir, { recursive: true, force: true });
}

class BrowserDriver {
  /** @returns {Promise<BrowserDriver>} a driver with Chromium launched */
  static async start() {
    const { context, userDataDir } = await launch([]);
    return new BrowserDriver(context, userDataDir);
  }

  constructor(context, userDataDir) {
    this.name = 'chromium';
    this.context = context;
    this.userDataDir = userDataDir;
    // One page server per client: each user gets an origin (and so a
    // localStorage) of its own, as two people in two browsers would.
    this.pageServers = [];
    this.pageOrigins = new Set();
    this.faults = [];
    this.console = [];
    this.exchanges = [];
    this.pages = [];
    // Browsers launched for one client each (createClient's fakeMedia).
    this.ownBrowsers = [];
  }

  fault(kind, detail) {
    this.faults.push({ kind, detail, at: new Date().toISOString() });
  }

  /**
   * A fresh page (fresh storage) with the bundle loaded and one SDK client.
   * With `options.fakeMedia` ({audio: WAV file, video: Y4M file}) the page
   * gets a Chromium of its own whose fake microphone and camera play those
   * files (the flags are per browser process, so people who must sound and
   * look different need a browser each).
   */
  async createClient(clientId, token, base, options = {}) {
    const pageServer = await startPageServer();
    this.pageServers.push(pageServer);
    const pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
    this.pageOrigins.add(pageOrigin);
    let context = this.context;
    if (options.fakeMedia) {
      const own = await launch([
        `--use-file-for-fake-audio-capture=${options.fakeMedia.audio}`,
        `--use-file-for-fake-video-capture=${options.fakeMedia.video}`,
      ]);
      this.ownBrowsers.push(own);
      context = own.context;
    }
    const page = await context.newPage();
    this.pages.push(page);
    const tag = `[${clientId}]`;
    page.on('pageerror', (error) => this.fault('pageerror', `${tag} ${error.stack || error}`));
    page.on('console', (message) => {
      const line = `${tag} [console.${message.type()}] ${message.text()}`;
      this.console.push(line);
      if (message.type() === 'error') this.fault('console.error', line);
    });
    page.on('crash', () => this.fault('crash', `${tag} page crashed`));
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (!isLoopbackHost(url.hostname)) this.fault('egress', `${tag} ${request.method()} ${request.url()}`);
    });
    page.on('response', (response) => {
      const request = response.request();
      if (this.pageOrigins.has(new URL(request.url()).origin)) return;
      this.exchanges.push({ method: request.method(), url: request.url(), status: response.status() });
    });
    page.on('requestfailed', (request) => {
      this.exchanges.push({
        method: request.method(),
        url: request.url(),
        status: 0,
        error: request.failure() ? request.failure().errorText : 'failed',
      });
    });
    page.on('websocket', (ws) => {
      const url = new URL(ws.url());
      if (!isLoopbackHost(url.hostname)) this.fault('egress', `${tag} websocket ${ws.url()}`);
      ws.on('socketerror', (error) => this.fault('websocket', `${tag} ${ws.url()}: ${error}`));
    });
    // A websocket's row carries the status of its real handshake answer, read
    // from Chromium's own network events: a refused upgrade is a 4xx row, one
    // that never got an answer a status-0 row, so the "every exchange 2xx/101"
    // check can fail for websockets too.
    const cdp = await context.newCDPSession(page);
    const handshakes = new Map();
    cdp.on('Network.webSocketCreated', ({ requestId, url }) => handshakes.set(requestId, url));
    cdp.on('Network.webSocketHandshakeResponseReceived', ({ requestId, response }) => {
      const url = handshakes.get(requestId);
      if (url === undefined) return;
      handshakes.delete(requestId);
      this.exchanges.push({ method: 'WEBSOCKET', url, status: response.status });
    });
    cdp.on('Network.webSocketFrameError', ({ requestId, errorMessage }) => {
      const url = handshakes.get(requestId);
      if (url === undefined) return;
      handshakes.delete(requestId);
      this.exchanges.push({ method: 'WEBSOCKET', url, status: 0, error: errorMessage });
    });
    await cdp.send('Network.enable');

    await page.goto(`${pageOrigin}/`);
    await page.evaluate(
      ({ clientId: id, token: t, base: b }) => {
        // Each client starts from empty storage, like a first visit.
        window.localStorage.clear();
        window.sessionStorage.clear();
        window.compatClients = window.compatClients || {};
        window.compatClients[id] = window.compatSdkClient.createClient(window.Webex, { token: t, base: b });
      },
      { clientId, token, base },
    );
    const own = options.fakeMedia ? this.ownBrowsers[this.ownBrowsers.length - 1] : null;
    return {
      call: (method, ...args) =>
        page.evaluate(({ id, m, a }) => window.compatClients[id][m](...a), { id: clientId, m: method, a: args }),
      close: async () => {
        await page.close();
        if (own) await closeBrowser(own);
      },
    };
  }

  /** Faults, console lines and HTTP exchanges collected since the last drain. */
  async drain() {
    return {
      faults: this.faults.splice(0),
      console: this.console.splice(0),
      exchanges: this.exchanges.splice(0),
    };
  }

  async stop() {
    await Promise.all(this.ownBrowsers.map(closeBrowser));
    await this.context.close().catch(() => {});
    await Promise.all(this.pageServers.map((server) => new Promise((resolve) => server.close(resolve))));
    fs.rmSync(this.userDataDir, { recursive: true, force: true });
  }
}

module.exports = { BrowserDriver };
