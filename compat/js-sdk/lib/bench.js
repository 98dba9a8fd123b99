'use strict';

/*
 * `--bench N`: N fresh SDK instances per runtime against one server, timing
 * init → meetings:registered and unregister() → meetings:unregistered as the
 * SDK's own clock sees them (performance.now() in its runtime).
 */

const os = require('node:os');
const { WebexServer } = require('./server');
const { withTimeout } = require('./scenario');

/** The q-quantile (0..1) of `values` by nearest rank. */
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1];
}

/** Median, p90, min and max of a sample. */
function summarize(values) {
  return {
    n: values.length,
    median: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** Runs `n` timed register/unregister rounds on `driver`. */
async function bench(driver, n, log) {
  const server = await WebexServer.start();
  try {
    const token = await server.createToken('bench@example.com');
    const registered = [];
    const unregistered = [];
    for (let i = 0; i < n; i += 1) {
      const client = await driver.createClient(`bench-${i}`, token, server.base);
      await withTimeout(client.call('init'), 30_000, 'init');
      const reg = await withTimeout(client.call('register'), 30_000, 'register');
      const unreg = await withTimeout(client.call('unregister'), 30_000, 'unregister');
      registered.push(reg.sinceInitMs);
      unregistered.push(unreg.unregisterMs);
      if (client.close) await client.close();
      log(`  ${driver.name} run ${i + 1}/${n}: init→registered ${reg.sinceInitMs.toFixed(1)} ms, unregister→unregistered ${unreg.unregisterMs.toFixed(1)} ms`);
    }
    const { faults } = await driver.drain();
    if (faults.length) throw new Error(`faults during the benchmark:\n${faults.map((f) => `  ${f.kind}: ${f.detail}`).join('\n')}`);
    return { runtime: driver.name, registered: summarize(registered), unregistered: summarize(unregistered) };
  } finally {
    await server.stop();
  }
}

/** The machine line of RESULTS.md. */
function machine() {
  const cpu = os.cpus()[0];
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpu: cpu ? cpu.model.trim() : 'unknown',
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
  };
}

/** RESULTS.md for the given bench results. */
function renderResults(results, { n, command, chromiumVersion, sdkVersion, server, build = 'debug' }) {
  const m = machine();
  const fmt = (x) => x.toFixed(0);
  const rows = results.map(
    (r) =>
      `| ${r.runtime} | ${fmt(r.registered.median)} | ${fmt(r.registered.p90)} | ${fmt(r.registered.min)}–${fmt(r.registered.max)} | ${fmt(r.unregistered.median)} | ${fmt(r.unregistered.p90)} | ${fmt(r.unregistered.min)}–${fmt(r.unregistered.max)} |`,
  );
  return `# Official Webex JS SDK against \`webex serve\`: timings

Measured with the unmodified npm \`webex@${sdkVersion}\` (Node: \`require('webex/meetings')\`;
Chromium: \`umd/meetings.min.js\` from a page on another 127.0.0.1 origin, so with CORS preflights)
against a ${build} build of \`webex serve\` with a fresh SQLite database, ${n} runs per runtime,
each with a fresh SDK instance (Chromium: a fresh page; the bundle's load time is excluded).
Times come from the SDK runtime's own clock (\`performance.now()\`).

- **init → registered**: \`Webex.init\` → \`meetings:ready\` → \`meetings.register()\` → \`meetings:registered\`
- **unregister**: \`meetings.unregister()\` → \`meetings:unregistered\`

Command: \`${command}\`

Server: ${server}

Machine: nproc ${m.nproc}, ${m.memoryGiB} GiB memory, ${m.cpu}; Node ${m.node}; ${chromiumVersion}.

| runtime | init→registered median (ms) | p90 | min–max | unregister median (ms) | p90 | min–max |
|---|---|---|---|---|---|---|
${rows.join('\n')}

Measured on ${new Date().toISOString().slice(0, 10)}. The machine is shared and noisy: compare medians, not single runs.
`;
}

module.exports = { bench, summarize, quantile, renderResults, machine };
