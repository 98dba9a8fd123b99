#!/usr/bin/env node
'use strict';

/*
 * Timing entry point for `webex bench latency`: the official SDK in Node
 * (lib/node-driver.js, the same child process the scenario uses; a fresh
 * one for every run, so each is a cold start) registers
 * and unregisters against a server the bench started (usually behind its
 * latency proxy), and prints one JSON line with every run's timings.
 *
 *   node latency.js --base URL --token TOKEN [--runs N]
 *
 * For HTTPS with a test certificate, set NODE_EXTRA_CA_CERTS to its PEM
 * file: the SDK's child process inherits it.
 *
 * Output: {"runs":[{"initEpochMs":…,"registeredMs":…,"unregisterMs":…},…]}
 * where initEpochMs is this process's wall clock just before `init` (so the
 * bench can line the run up with its proxy's log) and the durations come
 * from the SDK runtime's own clock.
 */

const { NodeDriver } = require('./lib/node-driver');

/** Rejects when `promise` has not settled within `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

function parseArgs(argv) {
  const args = { base: '', token: '', runs: 1 };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--base') args.base = argv[++i];
    else if (a === '--token') args.token = argv[++i];
    else if (a === '--runs') args.runs = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.base || !args.token) throw new Error('usage: latency.js --base URL --token TOKEN [--runs N]');
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error('--runs takes a positive integer');
  return args;
}

/**
 * One timed start in a fresh SDK process: an app starting up has no pooled
 * connections, and keep-alive sockets left by an earlier instance in the same
 * process would let the SDK skip the TCP and TLS handshakes a real cold start
 * pays (the comparison with the Rust SDK's cold start would be unfair).
 */
async function timedRun(args, i) {
  const driver = await NodeDriver.start();
  try {
    const client = await driver.createClient(`latency-${i}`, args.token, args.base);
    const initEpochMs = Date.now();
    await withTimeout(client.call('init'), 60_000, 'init');
    const reg = await withTimeout(client.call('register'), 60_000, 'register');
    const unreg = await withTimeout(client.call('unregister'), 60_000, 'unregister');
    const { faults } = await driver.drain();
    if (faults.length) throw new Error(`faults: ${faults.map((f) => `${f.kind}: ${f.detail}`).join('; ')}`);
    return { initEpochMs, registeredMs: reg.sinceInitMs, unregisterMs: unreg.unregisterMs };
  } finally {
    await driver.stop();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const runs = [];
  for (let i = 0; i < args.runs; i += 1) {
    runs.push(await timedRun(args, i));
  }
  process.stdout.write(`${JSON.stringify({ runs })}\n`);
  // The SDK keeps timers alive by design: exit explicitly.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || String(error)}\n`);
  process.exit(1);
});
