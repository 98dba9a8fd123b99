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

  /** The plain-JSON view of a Meeting the harness asserts on. */
  function summary(meeting) {
    return {
      id: meeting.id,
      locusUrl: meeting.locusUrl || null,
      sipUri: meeting.sipUri || null,
      type: meeting.type || null,
      meetingState: meeting.meetingState || null,
      state: meeting.state || null,
      selfId: meeting.selfId || null,
    };
  }

  /** The plain-JSON view of a Member. */
  function member(m) {
    return {
      id: m.id,
      name: m.name || null,
      status: m.status || null,
      isSelf: Boolean(m.isSelf),
      isHost: Boolean(m.isHost),
      isAudioMuted: m.isAudioMuted === undefined ? null : m.isAudioMuted,
      isVideoMuted: m.isVideoMuted === undefined ? null : m.isVideoMuted,
      personId: (m.participant && m.participant.person && m.participant.person.id) || null,
      email: (m.participant && m.participant.person && m.participant.person.email) || null,
    };
  }

  /**
   * Browser only: inbound-rtp figures of every peer connection the page
   * created and did not close (page/index.html keeps them in
   * `window.compatPeerConnections`), summed by kind.
   */
  async function peerStats() {
    const pcs = ((typeof window !== 'undefined' && window.compatPeerConnections) || []).filter((pc) => pc.connectionState !== 'closed');
    const out = {
      peerConnections: pcs.length,
      connectionStates: pcs.map((pc) => pc.connectionState),
      audio: { packetsReceived: 0, packetsLost: 0 },
      video: { packetsReceived: 0, framesDecoded: 0, frameWidth: 0, frameHeight: 0 },
      outbound: { audioPackets: 0, videoPackets: 0 },
      // By m-line (mid 0 audio, 1 main video, 2 slides on the transcoded path).
      byMid: {},
    };
    for (const pc of pcs) {
      const report = await pc.getStats();
      report.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.mid !== undefined) {
          const m = (out.byMid[r.mid] = out.byMid[r.mid] || { kind: r.kind, packetsReceived: 0, framesDecoded: 0, totalAudioEnergy: 0 });
          m.packetsReceived += r.packetsReceived || 0;
          m.framesDecoded += r.framesDecoded || 0;
          m.totalAudioEnergy += r.totalAudioEnergy || 0;
        }
        if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          out.audio.packetsReceived += r.packetsReceived || 0;
          out.audio.packetsLost += r.packetsLost || 0;
        } else if (r.type === 'inbound-rtp' && r.kind === 'video') {
          out.video.packetsReceived += r.packetsReceived || 0;
          out.video.framesDecoded += r.framesDecoded || 0;
          out.video.frameWidth = Math.max(out.video.frameWidth, r.frameWidth || 0);
          out.video.frameHeight = Math.max(out.video.frameHeight, r.frameHeight || 0);
        } else if (r.type === 'outbound-rtp') {
          if (r.kind === 'audio') out.outbound.audioPackets += r.packetsSent || 0;
          else if (r.kind === 'video') out.outbound.videoPackets += r.packetsSent || 0;
        }
      });
    }
    return out;
  }

  /** The SDK's share events (`constants.ts` of plugin-meetings). */
  const SHARE_EVENTS = [
    'meeting:startedSharingLocal',
    'meeting:stoppedSharingLocal',
    'meeting:startedSharingRemote',
    'meeting:stoppedSharingRemote',
  ];

  /** Browser only: a WebAudio analyser on a remote audio stream. */
  function analyse(stream) {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 4096;
    analyser.smoothingTimeConstant = 0.5;
    ctx.createMediaStreamSource(stream).connect(analyser);
    return { ctx, analyser };
  }

  /**
   * Browser only: counts the frames a <video> renders and records RTP
   * timestamp regressions (a source switch must not make time go back).
   */
  function watchFrames(el, into) {
    if (typeof el.requestVideoFrameCallback !== 'function') return;
    const onFrame = (_now, meta) => {
      into.count += 1;
      const ts = meta && meta.rtpTimestamp;
      if (typeof ts === 'number') {
        if (into.last !== null) {
          // Forward distance modulo 2^32; more than half the range back is a regression.
          const ahead = (ts - into.last + 2 ** 32) % 2 ** 32;
          if (ahead > 2 ** 31) into.regressions.push({ from: into.last, to: ts });
        }
        into.last = ts;
      }
      el.requestVideoFrameCallback(onFrame);
    };
    el.requestVideoFrameCallback(onFrame);
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
    let meetingEvents = null;
    const memberUpdates = new Map();
    const selfEvents = new Map();
    // Per meeting: local streams, addMedia() timing, remote sinks (browser only).
    const media = new Map();

    function meetingById(meetingId) {
      const meeting = webex.meetings.getAllMeetings()[meetingId];
      if (!meeting) throw new Error(`no meeting ${meetingId} in getAllMeetings()`);
      return meeting;
    }

    function watchMembers(meeting) {
      if (memberUpdates.has(meeting.id)) return;
      const list = [];
      memberUpdates.set(meeting.id, list);
      meeting.members.on('members:update', (payload) => {
        const delta = (payload && payload.delta) || {};
        list.push({
          added: (delta.added || []).map(member),
          updated: (delta.updated || []).map(member),
          full: Object.values((payload && payload.full) || {}).map(member),
        });
      });
    }

    /**
     * Records the meeting's lobby events. `meeting:self:lobbyWaiting` fires
     * inside `join()`, so this must run before it.
     */
    function watchSelf(meeting) {
      if (selfEvents.has(meeting.id)) return;
      const list = [];
      selfEvents.set(meeting.id, list);
      for (const name of ['meeting:self:lobbyWaiting', 'meeting:self:guestAdmitted']) {
        meeting.on(name, () => list.push({ event: name, state: meeting.state || null }));
      }
    }
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
          userId: webex.internal.device.userId || null,
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

      /**
       * Starts recording `meeting:added` and `meeting:removed` on
       * `webex.meetings` (idempotent). Call before the step that causes them.
       */
      watchMeetings() {
        if (meetingEvents) return true;
        meetingEvents = [];
        webex.meetings.on('meeting:added', (payload) => {
          const meeting = payload && payload.meeting;
          meetingEvents.push({
            event: 'meeting:added',
            type: payload && payload.type,
            meetingId: meeting && meeting.id,
            locusUrl: (meeting && meeting.locusUrl) || null,
          });
        });
        webex.meetings.on('meeting:removed', (payload) => {
          meetingEvents.push({
            event: 'meeting:removed',
            meetingId: payload && payload.meetingId,
            reason: payload && payload.reason,
          });
        });
        return true;
      },

      /** The `meeting:added` / `meeting:removed` events recorded so far. */
      meetingEvents() {
        return (meetingEvents || []).slice();
      },

      /** `webex.meetings.getAllMeetings()`, summarised. */
      meetings() {
        return Object.values(webex.meetings.getAllMeetings()).map(summary);
      },

      /**
       * `webex.meetings.create(address)`; `meeting:added` fires before it
       * resolves. Records the meeting's `members:update` events from now on.
       */
      async createMeeting(address) {
        this.watchMeetings();
        const meeting = await webex.meetings.create(address);
        watchMembers(meeting);
        watchSelf(meeting);
        return summary(meeting);
      },

      /** `meeting.join()` without media; then `isJoined()`. */
      async join(meetingId) {
        const meeting = meetingById(meetingId);
        await meeting.join();
        return this.status(meetingId);
      },

      /**
       * The meeting's summary, `isJoined()`, `isUserUnadmitted` (the lobby) and
       * whether the SDK's data-channel socket (LLM) is connected.
       */
      status(meetingId) {
        const meeting = meetingById(meetingId);
        const llm = webex.internal && webex.internal.llm;
        const llmConnected = Boolean(llm && typeof llm.isConnected === 'function' && llm.isConnected());
        return { ...summary(meeting), isJoined: meeting.isJoined(), isUserUnadmitted: Boolean(meeting.isUserUnadmitted), llmConnected };
      },

      /** `meeting.admit(memberIds)` (the host lets people in from the lobby). */
      async admit(meetingId, memberIds) {
        await meetingById(meetingId).admit(memberIds);
        return true;
      },

      /** The lobby events (`meeting:self:lobbyWaiting`, `…:guestAdmitted`) recorded since create. */
      selfEvents(meetingId) {
        return (selfEvents.get(meetingId) || []).slice();
      },

      /** `meeting.leave()`. */
      async leave(meetingId) {
        const meeting = meetingById(meetingId);
        await meeting.leave();
        return summary(meeting);
      },

      /** `meeting.endMeetingForAll()`. */
      async endMeetingForAll(meetingId) {
        const meeting = meetingById(meetingId);
        await meeting.endMeetingForAll();
        return summary(meeting);
      },

      /** `webex.meetings.syncMeetings()`, then the meetings it left. */
      async syncMeetings() {
        this.watchMeetings();
        await webex.meetings.syncMeetings();
        return this.meetings();
      },

      /**
       * The `members:update` events of a meeting (recorded since create), each
       * as `{added, updated, full}` with members as `{id, name, status, isSelf, isHost}`.
       */
      memberUpdates(meetingId) {
        return (memberUpdates.get(meetingId) || []).slice();
      },

      /** `meeting.members.membersCollection.getAll()`, summarised. */
      members(meetingId) {
        const members = meetingById(meetingId).members.membersCollection.getAll();
        return Object.values(members).map(member);
      },

      /**
       * Browser only: local microphone and camera streams from the SDK's
       * media helpers, remote `media:ready` streams attached to autoplaying
       * <audio>/<video> sinks, then `meeting.addMedia({localStreams})`, timed
       * until it resolves. Watches the page's peer connections (see
       * page/index.html) for the first decoded video frame from then on.
       */
      async addMedia(meetingId) {
        const meeting = meetingById(meetingId);
        const helpers = webex.meetings.mediaHelpers;
        if (!helpers || typeof document === 'undefined') throw new Error('addMedia needs a browser (no media helpers or no document)');
        const microphone = await helpers.createMicrophoneStream();
        const camera = await helpers.createCameraStream();
        const state = { microphone, camera, started: now(), firstFrameMs: null, firstAudioMs: null, ready: [], sinks: {}, frames: {}, shareEvents: [] };
        media.set(meeting.id, state);
        meeting.on('media:ready', (payload) => {
          const type = payload && payload.type;
          state.ready.push(type || null);
          if (!payload || !payload.stream || !['remoteAudio', 'remoteVideo', 'remoteShare'].includes(type)) return;
          const el = document.createElement(type === 'remoteAudio' ? 'audio' : 'video');
          el.autoplay = true;
          el.muted = type !== 'remoteAudio';
          el.srcObject = payload.stream;
          el.dataset.compat = type;
          document.body.appendChild(el);
          state.sinks[type] = el;
          if (type === 'remoteAudio') state.analyser = analyse(payload.stream);
          else watchFrames(el, (state.frames[type] = { count: 0, last: null, regressions: [] }));
        });
        for (const name of SHARE_EVENTS) {
          meeting.on(name, (payload) => state.shareEvents.push({ event: name, memberId: (payload && payload.memberId) || null }));
        }
        const poller = setInterval(async () => {
          const stats = await peerStats().catch(() => null);
          if (stats && stats.audio.packetsReceived > 0 && state.firstAudioMs === null) {
            state.firstAudioMs = now() - state.started;
          }
          if (stats && stats.video.framesDecoded > 0 && state.firstFrameMs === null) {
            state.firstFrameMs = now() - state.started;
          }
          if (state.firstAudioMs !== null && state.firstFrameMs !== null) clearInterval(poller);
        }, 20);
        state.poller = poller;
        try {
          await meeting.addMedia({ localStreams: { microphone, camera } });
        } catch (error) {
          clearInterval(poller);
          throw error;
        }
        return { addMediaMs: now() - state.started };
      },

      /**
       * Browser only: the inbound-rtp figures of the page's open peer
       * connections (audio packetsReceived, video framesDecoded, summed),
       * the time from addMedia() to the first decoded frame, and the
       * `media:ready` types seen.
       */
      async mediaStats(meetingId) {
        const stats = await peerStats();
        const state = media.get(meetingId) || {};
        return {
          ...stats,
          firstFrameMs: state.firstFrameMs === undefined ? null : state.firstFrameMs,
          firstAudioMs: state.firstAudioMs === undefined ? null : state.firstAudioMs,
          ready: (state.ready || []).slice(),
        };
      },

      /** Browser only: `setUserMuted(muted)` on the local microphone given to addMedia(). */
      muteMicrophone(meetingId, muted) {
        const state = media.get(meetingId);
        if (!state) throw new Error(`no local streams for meeting ${meetingId}`);
        state.microphone.setUserMuted(muted);
        return { userMuted: state.microphone.userMuted };
      },

      /** Browser only: stops the local streams' tracks after leave(). */
      stopLocalStreams(meetingId) {
        const state = media.get(meetingId);
        if (!state) return false;
        clearInterval(state.poller);
        state.microphone.stop();
        state.camera.stop();
        if (state.painter) clearInterval(state.painter);
        if (state.analyser) state.analyser.ctx.close().catch(() => {});
        return true;
      },

      /**
       * Browser only: the colour at the centre of the remote video (`remoteVideo`
       * or `remoteShare`) as [r, g, b], and the frames its element rendered
       * with any RTP timestamp regressions seen (requestVideoFrameCallback).
       */
      remoteVideo(meetingId, type) {
        const state = media.get(meetingId);
        const el = state && state.sinks[type];
        if (!el) return { color: null, frames: 0, regressions: [] };
        let color = null;
        if (el.videoWidth > 0) {
          const canvas = document.createElement('canvas');
          canvas.width = 8;
          canvas.height = 8;
          const ctx = canvas.getContext('2d');
          const w = el.videoWidth;
          const h = el.videoHeight;
          ctx.drawImage(el, w / 4, h / 4, w / 2, h / 2, 0, 0, 8, 8);
          const px = ctx.getImageData(4, 4, 1, 1).data;
          color = [px[0], px[1], px[2]];
        }
        const f = state.frames[type] || { count: 0, regressions: [] };
        return { color, frames: f.count, regressions: f.regressions.slice(0, 5) };
      },

      /** Browser only: the remote audio's level (dB) at each of `frequencies` (Hz). */
      remoteAudioLevels(meetingId, frequencies) {
        const state = media.get(meetingId);
        if (!state || !state.analyser) return null;
        const { ctx, analyser } = state.analyser;
        const bins = new Float32Array(analyser.frequencyBinCount);
        analyser.getFloatFrequencyData(bins);
        const binHz = ctx.sampleRate / analyser.fftSize;
        return frequencies.map((hz) => {
          const i = Math.round(hz / binHz);
          return Math.max(bins[i - 1], bins[i], bins[i + 1]);
        });
      },

      /**
       * Browser only: shares a canvas (a moving colour square, standing in
       * for a screen) with `meeting.publishStreams({screenShare: {video}})`,
       * the SDK's share call; resolves when the SDK does (floor granted).
       */
      async startShare(meetingId) {
        const meeting = meetingById(meetingId);
        const state = media.get(meetingId);
        if (!state) throw new Error(`no media for meeting ${meetingId}`);
        const canvas = document.createElement('canvas');
        canvas.width = 320;
        canvas.height = 240;
        const ctx = canvas.getContext('2d');
        let n = 0;
        state.painter = setInterval(() => {
          n += 1;
          ctx.fillStyle = '#ffff00';
          ctx.fillRect(0, 0, 320, 240);
          ctx.fillStyle = '#000000';
          ctx.fillRect(n % 300, 10, 20, 20);
        }, 50);
        const display = new webex.meetings.mediaHelpers.LocalDisplayStream(canvas.captureStream(20));
        state.display = display;
        await meeting.publishStreams({ screenShare: { video: display } });
        return { shareStatus: meeting.shareStatus || null };
      },

      /** Browser only: `meeting.unpublishStreams([display])`: stops sharing. */
      async stopShare(meetingId) {
        const meeting = meetingById(meetingId);
        const state = media.get(meetingId);
        if (!state || !state.display) throw new Error(`meeting ${meetingId} is not sharing`);
        await meeting.unpublishStreams([state.display]);
        clearInterval(state.painter);
        state.display.stop();
        state.display = null;
        return { shareStatus: meeting.shareStatus || null };
      },

      /** The share events this page saw (`meeting:startedSharingRemote`, …) and the meeting's shareStatus. */
      shareEvents(meetingId) {
        const state = media.get(meetingId);
        return { events: state ? state.shareEvents.slice() : [], shareStatus: meetingById(meetingId).shareStatus || null };
      },

      /** The SDK's own log buffer. */
      logs() {
        return webex && webex.logger ? webex.logger.formatLogs() : '';
      },
    };
  }

  return { createClient, sdkConfig };
});
