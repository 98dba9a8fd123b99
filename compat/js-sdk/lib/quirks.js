'use strict';

/*
 * The cloud quirks the server under test runs with. `webex serve` reads
 * WEBEX_CLOUD_QUIRKS (run.js --cloud-quirks sets it, and every server the
 * harness starts inherits it). With a quirk on, some answers are the
 * quirk's own round trip rather than a failure: the checks skip exactly
 * those.
 */

/** `{locusRedirect, ciscoLocation}` from WEBEX_CLOUD_QUIRKS. */
function quirks() {
  const names = (process.env.WEBEX_CLOUD_QUIRKS || '').split(',').map((s) => s.trim()).filter(Boolean);
  const all = names.includes('all');
  return {
    locusRedirect: all || names.includes('locus-redirect'),
    ciscoLocation: all || names.includes('cisco-location'),
  };
}

/** A short label for logs: `none`, or the names. */
function quirksLabel() {
  return process.env.WEBEX_CLOUD_QUIRKS || 'none';
}

/** Whether a response the SDK received is the Locus redirect quirk's 404 (a join's first try). */
function isQuirkExchange(e) {
  return quirks().locusRedirect && e.status === 404 && /[?&]alternateRedirect=true/.test(e.url) && !/[?&]cloudQuirkRedirected=/.test(e.url);
}

/** Whether a row the server counted is a quirk's own answer. */
function isQuirkRoute(row) {
  return (quirks().locusRedirect && row.route === 'quirk:locus-redirect' && row.status === 404)
    || (quirks().ciscoLocation && row.route === 'quirk:cisco-location' && row.status === 200);
}

/** Whether a fault is Chromium's console line for the Locus redirect quirk's 404. */
function isQuirkFault(f) {
  return quirks().locusRedirect && f.kind === 'console.error'
    && /Failed to load resource: the server responded with a status of 404/.test(f.detail);
}

module.exports = { quirks, quirksLabel, isQuirkExchange, isQuirkRoute, isQuirkFault };
