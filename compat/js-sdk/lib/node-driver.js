'use strict';

/*
 * Runs the SDK in a forked Node 20 process (lib/node-runtime.js) so that the
 * browser-global shim, the egress guard and the SDK's never-cancelled timers
 * stay out of the harness process.
 */

const { fork } = require('node:child_process');
const path = require('node:path');

class NodeDriver {
  /** @returns {Promise<NodeDriver>} a driver whose child has loaded the SDK */
  static async start() {
    const child = fork(path.join(__dirname, 'node-runtime.js'), [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const driver = new NodeDriver(child);
    await driver.ready;
    return driver;
  }

  constructor(child) {
    this.name = 'node';
    this.child = child;
    this.nextId = 1;
    this.pending = new Map();
    this.output = [];
    child.stdout.on('data', (d) => this.output.push(String(d)));
    child.stderr.on('data', (d) => this.output.push(String(d)));
    this.ready = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        const error = new Error(`SDK process exited (${code ?? signal}): ${this.output.join('')}`);
        reject(error);
        for (const { reject: r } of this.pending.values()) r(error);
        this.pending.clear();
      });
      child.on('message', (message) => {
        if (message.ready) {
          resolve();
          return;
        }
        const waiter = this.pending.get(message.id);
        if (!waiter) return;
        this.pending.delete(message.id);
        if (message.ok) waiter.resolve(message.value);
        else waiter.reject(new Error(message.error));
      });
    });
  }

  send(command, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, command, params });
    });
  }

  /** A fresh SDK client in the child; returns a proxy for its methods. */
  async createClient(clientId, token, base) {
    await this.send('create', { clientId, token, base });
    return { call: (method, ...args) => this.send('call', { clientId, method, args }) };
  }

  /**
   * Faults (unhandled rejections, egress), console lines and HTTP exchanges
   * collected since the last drain.
   */
  async drain() {
    const out = await this.send('drain');
    return { ...out, console: out.console.concat(this.output.splice(0)) };
  }

  async stop() {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

module.exports = { NodeDriver };
