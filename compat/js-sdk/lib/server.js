'use strict';

/*
 * `webex serve` as a child process on an ephemeral port with a fresh SQLite
 * database, plus the CLI and HTTP calls the harness makes against it
 * (token minting, the WDM device list, the operator API, /metrics).
 */

const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { parseRouteCounts } = require('./metrics');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The `webex` binary: `$WEBEX_BIN`, else the repository's debug build. */
function webexBin() {
  return process.env.WEBEX_BIN || path.join(REPO_ROOT, 'target', 'debug', 'webex');
}

function run(file, args, env) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

class WebexServer {
  /**
   * Starts the server and waits for its `listening on URL` line.
   * @returns {Promise<WebexServer>}
   */
  static async start() {
    const bin = webexBin();
    if (!fs.existsSync(bin)) {
      throw new Error(`${bin} not found: build it (cargo build -p webex-cli) or set WEBEX_BIN`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webex-compat-'));
    const database = `sqlite://${path.join(dir, 'webex.sqlite')}`;
    const adminToken = crypto.randomBytes(24).toString('hex');
    const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'debug,sqlx=warn,hyper=info,h2=info,tower=info', NO_COLOR: '1' };
    const child = spawn(
      bin,
      ['serve', '--listen', '127.0.0.1:0', '--database', database, '--admin-token', adminToken],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new WebexServer(bin, child, dir, database, adminToken, env);
    try {
      server.base = await server.waitListening();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  constructor(bin, child, dir, database, adminToken, env) {
    this.bin = bin;
    this.child = child;
    this.dir = dir;
    this.database = database;
    this.adminToken = adminToken;
    this.env = env;
    this.log = [];
    readline.createInterface({ input: child.stderr }).on('line', (line) => this.log.push(line));
  }

  waitListening() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`webex serve did not listen within 30 s:\n${this.logText()}`)), 30_000);
      const lines = readline.createInterface({ input: this.child.stdout });
      lines.on('line', (line) => {
        const match = /^listening on (http:\/\/\S+)$/.exec(line.trim());
        if (match) {
          clearTimeout(timer);
          resolve(match[1].replace(/\/$/, ''));
        } else {
          this.log.push(`[stdout] ${line}`);
        }
      });
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`webex serve exited (${code ?? signal}) before listening:\n${this.logText()}`));
      });
    });
  }

  /** Mints an access token for `email` with `webex token create`. */
  async createToken(email) {
    const out = await run(this.bin, ['token', 'create', '--email', email, '--database', this.database], this.env);
    const token = out.trim();
    if (!token || /\s/.test(token)) throw new Error(`webex token create printed ${JSON.stringify(out)}`);
    return token;
  }

  /** A JSON request to the server; resolves with `{status, body}`. */
  async request(method, pathAndQuery, { token, body } = {}) {
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.base}${pathAndQuery}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed };
  }

  /** An operator-API request with the admin token. */
  admin(method, pathAndQuery, body) {
    return this.request(method, pathAndQuery, { token: this.adminToken, body });
  }

  /** Request counts by method, route and status from `/metrics`. */
  async routeCounts() {
    const response = await fetch(`${this.base}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
    return parseRouteCounts(await response.text());
  }

  logText() {
    return this.log.join('\n');
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { WebexServer, webexBin, REPO_ROOT };
