#!/usr/bin/env node
'use strict';

/*
 * Entry point: runs the compatibility scenario with the official Webex JS SDK
 * in Node 20 and in headless Chromium against `webex serve`.
 *
 *   node run.js                       both runtimes, scenario only
 *   node run.js --runtime node        one runtime (node | chromium)
 *   node run.js --bench 15            the scenario, then 15 timed runs per runtime → RESULTS.md
 *   node run.js --verbose             also list every request the SDK made and what the server counted
 *   node run.js --cloud-quirks all    the server answers with the cloud's redirects (webex serve --cloud-quirks)
 */

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Scenario } = require('./lib/scenario');
const { NodeDriver } = require('./lib/node-driver');
const { BrowserDriver } = require('./lib/browser-driver');
const { bench, renderResults } = require('./lib/bench');
const { REPO_ROOT } = require('./lib/server');
const { quirksLabel } = require('./lib/quirks');

const RUNTIMES = { node: NodeDriver, chromium: BrowserDriver };
const TMP = path.join(__dirname, '.tmp');

function parseArgs(argv) {
  const args = { runtimes: [], bench: 0, verbose: false, results: path.join(__dirname, 'RESULTS.md') };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--runtime') args.runtimes.push(argv[++i]);
    else if (a === '--bench') args.bench = Number(argv[++i]);
    else if (a === '--results') args.results = path.resolve(argv[++i]);
    else if (a === '--cloud-quirks') process.env.WEBEX_CLOUD_QUIRKS = argv[++i];
    else if (a === '--verbose') args.verbose = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: run.js [--runtime node|chromium]... [--bench N] [--results FILE] [--cloud-quirks LIST] [--verbose]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (args.runtimes.length === 0) args.runtimes = Object.keys(RUNTIMES);
  for (const r of args.runtimes) if (!RUNTIMES[r]) throw new Error(`unknown runtime ${r}`);
  if (!Number.isInteger(args.bench) || args.bench < 0) throw new Error('--bench takes a positive integer');
  return args;
}

function tail(text, lines) {
  const all = String(text || '').split('\n');
  return (all.length > lines ? [`… (${all.length - lines} earlier lines in the file below)`] : []).concat(all.slice(-lines)).join('\n');
}

/** Prints what is needed to understand a failure and keeps the full logs in .tmp/. */
function report(runtime, error) {
  fs.mkdirSync(TMP, { recursive: true });
  const files = {
    sdk: path.join(TMP, `${runtime}-sdk.log`),
    console: path.join(TMP, `${runtime}-console.log`),
    server: path.join(TMP, `${runtime}-server.log`),
  };
  const details = error.details || { console: [], faults: [], exchanges: [] };
  fs.writeFileSync(files.sdk, error.sdkLog || '');
  fs.writeFileSync(files.console, (details.console || []).join('\n'));
  fs.writeFileSync(files.server, error.serverLog || '');
  console.log(`\n===== ${runtime}: FAILED at "${error.step || 'setup'}" =====`);
  console.log(error.stack || String(error));
  if (details.faults && details.faults.length) {
    console.log('--- faults ---');
    for (const f of details.faults) console.log(`${f.kind}: ${f.detail}`);
  }
  if (details.exchanges && details.exchanges.length) {
    console.log('--- HTTP exchanges not yet checked ---');
    for (const e of details.exchanges) console.log(`${e.method} ${e.url} → ${e.status}${e.error ? ` (${e.error})` : ''}`);
  }
  console.log(`--- the SDK's log (${files.sdk}) ---`);
  console.log(tail(error.sdkLog, 300));
  console.log(`--- console (${files.console}) ---`);
  console.log(tail((details.console || []).join('\n'), 100));
  console.log(`--- server log (${files.server}) ---`);
  console.log(tail(error.serverLog, 150));
}

/** `release` or `debug`: the cargo profile WEBEX_BIN was built with. */
function serverBuild() {
  return /[\\/]release[\\/]/.test(process.env.WEBEX_BIN || '') ? 'release' : 'debug';
}

/** Which server was measured: COMPAT_SERVER_NOTE, else the repository revision. */
function serverDescription() {
  if (process.env.COMPAT_SERVER_NOTE) return process.env.COMPAT_SERVER_NOTE;
  try {
    const rev = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    return `\`webex serve\` (${serverBuild()} build) at commit ${rev}`;
  } catch {
    return `\`webex serve\` (${serverBuild()} build)`;
  }
}

function chromiumVersion() {
  try {
    return execFileSync(process.env.CHROMIUM_BIN || '/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'Chromium (version unknown)';
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const log = (line) => console.log(line);
  let passed = 0;
  let failed = 0;
  const benchResults = [];

  for (const runtime of args.runtimes) {
    log(`\n# ${runtime} (cloud quirks: ${quirksLabel()})`);
    let driver;
    try {
      driver = await RUNTIMES[runtime].start();
    } catch (error) {
      failed += 1;
      report(runtime, error);
      continue;
    }
    const scenario = new Scenario(driver, log);
    try {
      await scenario.run();
      passed += scenario.passed;
      if (args.verbose) {
        // The SDK's own buffered log (info and up) of every client, for reading.
        fs.mkdirSync(TMP, { recursive: true });
        fs.writeFileSync(path.join(TMP, `${runtime}-sdk.log`), await scenario.sdkLogs());
        log(`--- ${runtime}: the SDK's log is in ${path.join(TMP, `${runtime}-sdk.log`)} ---`);
      }
      if (args.verbose) {
        for (const [phase, list] of Object.entries(scenario.exchanges)) {
          log(`--- ${runtime}: what the SDK sent (${phase} token) ---`);
          for (const e of list) log(`  ${e.method} ${e.url} → ${e.status}${e.error ? ` (${e.error})` : ''}`);
        }
        for (const [phase, rows] of Object.entries(scenario.serverRoutes)) {
          log(`--- ${runtime}: what the server counted (/metrics, ${phase} token, harness calls included) ---`);
          for (const r of rows) log(`  ${r.method} ${r.route} → ${r.status} ×${r.count}`);
        }
      }
      if (args.bench > 0) {
        // A fresh runtime: the scenario's SDK instances are left behind with their server gone.
        await driver.stop();
        driver = await RUNTIMES[runtime].start();
        log(`\n# ${runtime}: benchmark, ${args.bench} runs`);
        benchResults.push(await bench(driver, args.bench, log));
      }
    } catch (error) {
      passed += scenario.passed;
      failed += 1;
      report(runtime, error);
    } finally {
      await driver.stop();
    }
  }

  if (args.bench > 0 && failed === 0) {
    const sdkVersion = require('webex/package').version;
    const bin = serverBuild() === 'release' ? 'WEBEX_BIN=<release webex> ' : '';
    const command = `cd compat/js-sdk && ${bin}./run.sh --bench ${args.bench}`;
    fs.writeFileSync(args.results, renderResults(benchResults, { n: args.bench, command, chromiumVersion: chromiumVersion(), sdkVersion, server: serverDescription(), build: serverBuild() }));
    log(`\nwrote ${args.results}`);
    for (const r of benchResults) {
      log(`${r.runtime}: init→registered median ${r.registered.median.toFixed(0)} ms p90 ${r.registered.p90.toFixed(0)} ms; unregister median ${r.unregistered.median.toFixed(0)} ms p90 ${r.unregistered.p90.toFixed(0)} ms`);
    }
  }

  log(`\n${passed} passed, ${failed} failed`);
  // The SDK keeps timers (device refresh, metrics) alive by design: exit explicitly.
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error.stack || String(error));
  console.log('\n0 passed, 1 failed');
  process.exit(1);
});
