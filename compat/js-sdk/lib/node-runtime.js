/*
 * Child process that hosts the official SDK in plain Node 20 (forked by
 * node-driver.js, spoken to over IPC). It installs only the minimum browser
 * shim the meetings plugin needs, a guard that refuses any TCP connection
 * leaving loopback, and collectors for unhandled rejections, console output
 * and the HTTP exchanges the SDK makes.
 */
'use strict';

const diagnostics = require('node:diagnostics_channel');
const net = require('node:net');
const { installEgressGuard } = require('./net-policy');

const faults = [];
const consoleLines = [];
const exchanges = [];

function fault(kind, detail) {
  faults.push({ kind, detail, at: new Date().toISOString() });
}

// --- the browser-global shim (the SDK itself is untouched) -----------------
globalThis.window = globalThis;
if (!globalThis.navigator) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Mozilla/5.0 (X11; Linux x86_64) Node.js/${process.versions.node}` },
    configurable: true,
    writable: true,
  });
}
globalThis.location = new URL('http://127.0.0.1/');

// --- collectors ------------------------------------------------------------
process.on('unhandledRejection', (reason) => {
  fault('unhandledRejection', String((reason && reason.stack) || reason));
});
process.on('uncaughtException', (error) => {
  fault('uncaughtException', String((error && error.stack) || error));
});

for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
  console[method] = (...args) => {
    const text = args
      .map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.stack : safeJson(a)))
      .join(' ');
    consoleLines.push(`[console.${method}] ${text}`);
    // The SDK prints only errors (logger.level 'error'): each one is a finding.
    if (method === 'error') fault('console.error', text);
  };
}

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

// Every HTTP response (and WebSocket upgrade) the SDK receives, from Node's
// own instrumentation.
const urlOf = (request) => `${request.protocol}//${request.getHeader('host') || request.host}${request.path}`;
diagnostics.subscribe('http.client.request.start', ({ request }) => {
  if (String(request.getHeader('upgrade')).toLowerCase() !== 'websocket') return;
  // ws has its own 'upgrade' listener already; this one only watches.
  request.once('upgrade', (response) => {
    exchanges.push({ method: 'WEBSOCKET', url: urlOf(request), status: response.statusCode });
  });
});
diagnostics.subscribe('http.client.response.finish', ({ request, response }) => {
  exchanges.push({ method: request.method, url: urlOf(request), status: response.statusCode });
});
diagnostics.subscribe('http.client.request.error', ({ request, error }) => {
  exchanges.push({ method: request.method, url: urlOf(request), status: 0, error: String(error && error.message) });
});

// No traffic leaves 127.0.0.1: refuse (and report) any other destination.
installEgressGuard(net.Socket, (detail) => fault('egress', detail));

// --- the SDK ---------------------------------------------------------------
const Webex = require('webex/meetings');
const { createClient } = require('./sdk-client');

const clients = new Map();

const commands = {
  create({ clientId, token, base }) {
    clients.set(clientId, createClient(Webex, { token, base }));
    return true;
  },
  call({ clientId, method, args }) {
    const client = clients.get(clientId);
    if (!client) throw new Error(`no client ${clientId}`);
    return client[method](...(args || []));
  },
  drain() {
    const out = { faults: faults.splice(0), console: consoleLines.splice(0), exchanges: exchanges.splice(0) };
    return out;
  },
};

process.on('message', async ({ id, command, params }) => {
  try {
    const value = await commands[command](params || {});
    process.send({ id, ok: true, value });
  } catch (error) {
    process.send({ id, ok: false, error: String((error && error.stack) || error) });
  }
});
process.send({ ready: true });
