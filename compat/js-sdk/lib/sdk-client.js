/*
 * The part of the scenario that runs next to the official SDK: in the Node
 * child process (required) and in the Chromium page (loaded as a <script>).
 * It only calls the SDK's public surface; every method returns plain JSON so
 * that both runtimes answer the harness in the same shape.
 */
(function expose(root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.compatSdkClient = factory();
  }
})(typeof self !== 'undefined' ? self : this, function factory() {
  'use strict';

  const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

  /** Resolves with the first emission of `name` on a Backbone-style emitter. */
  function once(emitter, name) {
    return new Promise((resolve) => {
      const handler = (...args) => {
        emitter.off(name, handler);
        resolve(args);
      };
      emitter.on(name, handler);
    });
  }

  /**
   * The SDK configuration that points discovery at `base` (the server's
   * public URL) and nowhere else.
   */
  function sdkConfig(base) {
    const host = new URL(base).hostname;
    return {
      services: {
        discovery: {
          u2c: `${base}/u2c/api/v1`,
          hydra: `${base}/v1`,
          sqdiscovery: `${base}/region`,
        },
        allowedDomains: [host],
      },
      device: { ephemeral: true },
      logger: { level: 'error', bufferLogLevel: 'info' },
    };
  }

  /**
   * One SDK instance driven step by step by the harness.
   * @param {Function} Webex the SDK's constructor (`require('webex/meetings')` or the UMD global)
   * @param {{token: string, base: string}} options
   */
  function createClient(Webex, options) {
    let webex = null;
    let initAt = 0;
    const armed = new Map();

    return {
      /** `Webex.init` then `meetings:ready`. */
      async init() {
        initAt = now();
        webex = Webex.init({
          credentials: { access_token: options.token },
          config: sdkConfig(options.base),
        });
        await once(webex.meetings, 'meetings:ready');
        return { readyMs: now() - initAt };
      },

      /** `register()` and `meetings:registered`; both must happen. */
      async register() {
        const started = now();
        const registered = once(webex.meetings, 'meetings:registered');
        await webex.meetings.register();
        await registered;
        const end = now();
        return {
          sinceInitMs: end - initAt,
          registerMs: end - started,
          deviceUrl: webex.internal.device.url,
          webSocketUrl: webex.internal.device.webSocketUrl,
          mercuryConnected: Boolean(webex.internal.mercury.connected),
        };
      },

      /** `register()` that is expected to reject (invalid token). */
      async registerExpectingRejection() {
        try {
          await webex.meetings.register();
        } catch (error) {
          return { rejected: true, message: String((error && error.message) || error) };
        }
        return { rejected: false, registered: Boolean(webex.meetings.registered) };
      },

      /** Starts listening for a Mercury event before the harness publishes it. */
      armEvent(eventType) {
        const received = new Promise((resolve) => {
          const handler = (envelope) => {
            webex.internal.mercury.off(`event:${eventType}`, handler);
            resolve(envelope);
          };
          webex.internal.mercury.on(`event:${eventType}`, handler);
        });
        armed.set(eventType, received);
        return true;
      },

      /** The envelope of an armed event, once it arrived. */
      async awaitEvent(eventType) {
        const envelope = await armed.get(eventType);
        armed.delete(eventType);
        return JSON.parse(JSON.stringify(envelope));
      },

      /** `unregister()` and `meetings:unregistered`; both must happen. */
      async unregister() {
        const started = now();
        const unregistered = once(webex.meetings, 'meetings:unregistered');
        await webex.meetings.unregister();
        await unregistered;
        return {
          unregisterMs: now() - started,
          deviceUrl: webex.internal.device.url || null,
          mercuryConnected: Boolean(webex.internal.mercury.connected),
        };
      },

      /** The SDK's own log buffer. */
      logs() {
        return webex && webex.logger ? webex.logger.formatLogs() : '';
      },
    };
  }

  return { createClient, sdkConfig };
});
