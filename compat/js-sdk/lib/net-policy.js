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

/**
 * Makes `SocketClass.prototype.connect` refuse every destination that is not
 * loopback: the attempt is reported through `onEgress` and the socket is
 * destroyed with an error before any packet is sent.
 * @param {Function} SocketClass `net.Socket` (tls.TLSSocket inherits from it)
 * @param {(detail: string) => void} onEgress
 * @returns {() => void} restores the original method
 */
function installEgressGuard(SocketClass, onEgress) {
  const original = SocketClass.prototype.connect;
  SocketClass.prototype.connect = function guardedConnect(...args) {
    const options = typeof args[0] === 'object' && args[0] !== null ? args[0] : null;
    const isPipe = options ? Boolean(options.path) : typeof args[0] === 'string';
    const host = options ? options.host : typeof args[1] === 'string' ? args[1] : undefined;
    if (!isPipe && !isLoopbackHost(host || 'localhost')) {
      const port = options ? options.port : args[0];
      onEgress(`connection attempt to ${host}:${port}`);
      process.nextTick(() => this.destroy(new Error(`compat harness: egress to ${host} refused`)));
      return this;
    }
    return original.apply(this, args);
  };
  return () => {
    SocketClass.prototype.connect = original;
  };
}

module.exports = { isLoopbackHost, installEgressGuard };
