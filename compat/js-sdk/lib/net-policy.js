'use strict';

/**
 * True when `host` names this machine's loopback interface, the only place
 * the harness lets the SDK talk to.
 * @param {string} host a hostname or IP literal (IPv6 with or without brackets)
 * @returns {boolean}
 */
function isLoopbackHost(host) {
  const h = String(host).replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

module.exports = { isLoopbackHost };
