// The official Webex JS SDK in plain Node against a local `webex serve --dev`.
//
//   webex serve --dev                      # prints alice's token
//   WEBEX_ACCESS_TOKEN=<alice's token> node quickstart.js
//
// WEBEX_URL (default http://127.0.0.1:8080) is the server; WEBEX_MEETING
// (default alice@example.com, her personal room) is the meeting to join.

// The SDK is written for browsers: in Node it needs these three globals,
// set before it is loaded.
globalThis.window = globalThis;
if (!globalThis.navigator) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Mozilla/5.0 (X11; Linux x86_64) Node.js/${process.versions.node}` },
    configurable: true,
    writable: true,
  });
}
globalThis.location = new URL('http://127.0.0.1/');

const Webex = require('webex/meetings');

const base = process.env.WEBEX_URL || 'http://127.0.0.1:8080';
const token = process.env.WEBEX_ACCESS_TOKEN;
if (!token) {
  console.error('set WEBEX_ACCESS_TOKEN (webex serve --dev prints one for alice and bob)');
  process.exit(2);
}

async function main() {
  const webex = Webex.init({
    credentials: { access_token: token },
    config: {
      // Discovery at the local server instead of Webex's cloud.
      services: {
        discovery: {
          u2c: `${base}/u2c/api/v1`,
          hydra: `${base}/v1`,
          sqdiscovery: `${base}/region`,
        },
        allowedDomains: [new URL(base).hostname],
      },
      device: { ephemeral: true },
      logger: { level: 'error' },
    },
  });
  await new Promise((resolve) => webex.meetings.once('meetings:ready', resolve));
  console.log('meetings:ready');

  await webex.meetings.register();
  console.log(`registered: device ${webex.internal.device.url}`);

  const meeting = await webex.meetings.create(process.env.WEBEX_MEETING || 'alice@example.com');
  await meeting.join();
  console.log(`joined ${meeting.locusUrl}`);
  const members = Object.values(meeting.members.membersCollection.getAll());
  console.log(`roster: ${members.map((m) => `${m.name} (${m.status})`).join(', ')}`);

  await meeting.leave();
  console.log('left');
  await webex.meetings.unregister();
  console.log('unregistered');
}

main().then(
  // The SDK keeps timers alive (metrics, device refresh): exit when done.
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
