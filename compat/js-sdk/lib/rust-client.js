'use strict';

/*
 * The Rust SDK as a meeting participant: `webex meetings join <destination>
 * --json` as a child process. Each stdout line is one JSON event (`joined`,
 * `members:update`, `meeting:removed`, `left`, …, each with the full roster
 * in `members`); SIGINT makes it leave, unregister and exit.
 */

const { spawn } = require('node:child_process');
const readline = require('node:readline');
const { withTimeout } = require('./scenario-util');

class RustJoin {
  /**
   * Spawns `bin meetings join destination --json` against `base` as the
   * user of `token`.
   */
  static start(bin, base, token, destination, label, extraArgs = []) {
    const env = { ...process.env, NO_COLOR: '1', RUST_LOG: 'warn' };
    delete env.WEBEX_ACCESS_TOKEN;
    const child = spawn(
      bin,
      ['meetings', 'join', destination, '--json', '--server', base, '--token', token, '--device-name', label, ...extraArgs],
      { env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    return new RustJoin(child, label);
  }

  constructor(child, label) {
    this.child = child;
    this.label = label;
    this.events = [];
    this.stdoutNoise = [];
    this.stderr = [];
    this.waiters = new Set();
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line));
      } catch {
        this.stdoutNoise.push(line);
      }
      for (const w of this.waiters) w();
    });
    readline.createInterface({ input: child.stderr }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const w of this.waiters) w();
        resolve(this.exit);
      });
    });
  }

  /** What the process printed so far, for assertion messages. */
  transcript() {
    return [
      `${this.label} stdout:`,
      ...this.events.map((e) => `  ${JSON.stringify(e)}`),
      ...this.stdoutNoise.map((l) => `  (not JSON) ${l}`),
      `${this.label} stderr:`,
      ...this.stderr.map((l) => `  ${l}`),
      `${this.label} exit: ${this.exit ? JSON.stringify(this.exit) : 'still running'}`,
    ].join('\n');
  }

  /** Resolves with the first event `match` accepts; rejects on exit or after `ms`. */
  until(what, match, ms = 10_000) {
    let listener;
    const found = new Promise((resolve, reject) => {
      listener = () => {
        const event = this.events.find(match);
        if (event) resolve(event);
        else if (this.exit) reject(new Error(`${this.label} exited before ${what}:\n${this.transcript()}`));
      };
      this.waiters.add(listener);
      listener();
    });
    return withTimeout(found, ms, `${this.label}: ${what}\n${this.transcript()}`).finally(() => this.waiters.delete(listener));
  }

  /** Resolves with the exit once the process ended, within `ms`. */
  async ended(ms = 15_000) {
    return withTimeout(this.exited, ms, `${this.label} did not exit\n${this.transcript()}`);
  }

  /** One command line on stdin (`mute-audio`, `leave`, …; `--json` mode). */
  command(line) {
    this.child.stdin.write(`${line}\n`);
  }

  /** Ctrl-C: leave the meeting and exit. */
  interrupt() {
    this.child.kill('SIGINT');
  }

  /** Kills the process if it still runs (cleanup after a failure). */
  async kill() {
    if (!this.exit) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

module.exports = { RustJoin };
