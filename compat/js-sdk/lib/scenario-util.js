'use strict';

/* Small helpers the scenarios share: hang guards and polling. */

/** Rejects when `promise` has not settled after `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (hang guard)`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Polls `check` (which throws while not yet true) for up to `ms`. */
async function eventually(check, ms = 5_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The device id the operator API takes: the last segment of the device URL. */
function deviceIdOf(deviceUrl) {
  return new URL(deviceUrl).pathname.split('/').filter(Boolean).pop();
}

module.exports = { withTimeout, eventually, deviceIdOf };
