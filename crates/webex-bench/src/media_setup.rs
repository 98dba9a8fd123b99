//! How scenario 10 sets up a meeting with media, as the official SDK
//! does it over HTTP: a device per person (`POST /wdm/api/v1/devices`),
//! meetingInfo then `POST {locus}/loci/call` for the first person, `POST
//! {locusUrl}/participant` for the others, then per person `PUT
//! {selfUrl}/media` with a TURN discovery request and a ROAP offer from a
//! [`webex_media::testing::TestPeer`], which then runs with the answer.

use futures::StreamExt;
use secrecy::ExposeSecret;
use webex_media::testing::{RunningPeer, TestPeer};
use webex_wire::locus::{JoinDevice, JoinRequest, JoinResponse};
use webex_wire::roap::{
    LocalMedia, LocalSdp, MediaRequest, MediaResponse, MessageType, RoapMessage,
};

use crate::error::{BenchError, BenchResult};
use crate::fixtures::{self, Account};

/// A person of a meeting: token, device, their `self.url`.
struct Member<'a> {
    account: &'a Account,
    device_url: String,
    self_url: String,
    media_id: Option<String>,
}

/// How each person of a meeting sends audio.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Voice {
    /// Filler bytes stamped with their send time (meetings of two, whose
    /// audio is forwarded as is: its latency is measured).
    Stamped,
    /// A real Opus sine of this frequency (the mixer decodes it), at the
    /// test client's loudness when `talking`, else digital silence.
    Tone { hz: f32, talking: bool },
}

/// The voice of person `k` of a meeting of `people` where the first
/// `talkers` talk (0: everyone).
pub(crate) fn voice_of(k: usize, people: usize, talkers: usize) -> Voice {
    if people <= 2 {
        return Voice::Stamped;
    }
    Voice::Tone {
        // Distinct, not harmonics of each other within a meeting.
        hz: 210.0 + 37.0 * k as f32,
        talking: talkers == 0 || k < talkers,
    }
}

/// The people of one meeting (devices, meetingInfo + `loci/call` for the
/// first, `{locusUrl}/participant` for the others, `concurrency` at once),
/// then each one's media: the running clients, in the order of `people`.
pub(crate) async fn meeting_with_media(
    http: &reqwest::Client,
    base: &str,
    people: &[Account],
    address: &str,
    talkers: usize,
    concurrency: usize,
) -> BenchResult<Vec<RunningPeer>> {
    let Some((first, others)) = people.split_first() else {
        return Err(BenchError::Setup("a meeting needs people".into()));
    };
    if others.is_empty() {
        return Err(BenchError::Setup("a meeting needs two people".into()));
    }
    let dev_first = fixtures::register_device(http, base, &first.token, "bench-media").await?;
    let permission =
        crate::meeting::permission_token(http, base, first.token.expose_secret(), address).await?;
    let body = JoinRequest::new(&dev_first.url, format!("bench-{}", uuid::Uuid::new_v4()))
        .with_invitee(address)
        .with_permission_token(permission);
    let joined_first = join(
        http,
        &format!("{base}/locus/api/v1/loci/call?alternateRedirect=true"),
        first,
        &body,
    )
    .await?;
    let locus_url = joined_first.locus.url.clone();
    let mut members = vec![member(first, dev_first.url, joined_first)?];
    let joined: Vec<BenchResult<Member<'_>>> = futures::stream::iter(others)
        .map(|who| {
            let locus_url = &locus_url;
            async move {
                let dev = fixtures::register_device(http, base, &who.token, "bench-media").await?;
                let body = JoinRequest::new(&dev.url, format!("bench-{}", uuid::Uuid::new_v4()));
                let joined = join(
                    http,
                    &format!("{locus_url}/participant?alternateRedirect=true"),
                    who,
                    &body,
                )
                .await?;
                member(who, dev.url, joined)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for m in joined {
        members.push(m?);
    }
    let n = members.len();
    let started: Vec<BenchResult<RunningPeer>> = futures::stream::iter(members.iter().enumerate())
        .map(|(k, m)| start_media(http, m, voice_of(k, n, talkers)))
        .buffered(concurrency.max(1))
        .collect()
        .await;
    started.into_iter().collect()
}

fn member(account: &Account, device_url: String, joined: JoinResponse) -> BenchResult<Member<'_>> {
    let self_url = joined
        .locus
        .self_
        .and_then(|s| s.url)
        .ok_or_else(|| BenchError::Setup("join answer without self.url".into()))?;
    Ok(Member {
        account,
        device_url,
        self_url,
        media_id: joined
            .media_connections
            .into_iter()
            .find_map(|m| m.media_id),
    })
}

async fn join(
    http: &reqwest::Client,
    url: &str,
    who: &Account,
    body: &JoinRequest,
) -> BenchResult<JoinResponse> {
    let res = http
        .post(url)
        .bearer_auth(who.token.expose_secret())
        .json(body)
        .send()
        .await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status {
            what: "POST {locus} join",
            status,
        });
    }
    Ok(res.json().await?)
}

/// `PUT {selfUrl}/media` with `roap` as the SDK wraps it; the ROAP
/// message answered.
async fn put_media(
    http: &reqwest::Client,
    m: &Member<'_>,
    roap: RoapMessage,
) -> BenchResult<RoapMessage> {
    let local = LocalSdp {
        audio_muted: false,
        video_muted: false,
        roap_message: Some(roap),
        reachability: None,
    };
    let body = MediaRequest {
        device: JoinDevice {
            url: m.device_url.clone(),
            device_type: "WEB".into(),
            country_code: Some("US".into()),
            region_code: Some("US-EAST".into()),
        },
        correlation_id: Some(format!("bench-{}", uuid::Uuid::new_v4())),
        local_medias: vec![LocalMedia {
            local_sdp: serde_json::to_string(&local)
                .map_err(|e| BenchError::Setup(format!("local SDP: {e}")))?,
            media_id: m.media_id.clone(),
        }],
        client_media_preferences: Some(serde_json::json!({
            "ipver": 4, "joinCookie": {}, "preferTranscoding": true
        })),
        ..Default::default()
    };
    let res = http
        .put(format!("{}/media", m.self_url))
        .bearer_auth(m.account.token.expose_secret())
        .json(&body)
        .send()
        .await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status {
            what: "PUT {selfUrl}/media",
            status,
        });
    }
    let answer: MediaResponse = res.json().await?;
    answer
        .roap_message()
        .map_err(|e| BenchError::Setup(format!("remoteSdp: {e}")))?
        .ok_or_else(|| BenchError::Setup("a /media answer without a ROAP message".into()))
}

/// TURN discovery, then an offer from a fresh client; the client running
/// with the server's answer.
async fn start_media(
    http: &reqwest::Client,
    m: &Member<'_>,
    voice: Voice,
) -> BenchResult<RunningPeer> {
    let turn = put_media(http, m, RoapMessage::turn_discovery_request()).await?;
    if turn.message_type != MessageType::TurnDiscoveryResponse {
        return Err(BenchError::Setup(format!(
            "TURN discovery answered {:?}",
            turn.message_type
        )));
    }
    let mut peer = TestPeer::new().map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut silent = false;
    if let Voice::Tone { hz, talking } = voice {
        peer = peer.with_tone(hz);
        silent = !talking;
    }
    let offer = peer.offer_sdp();
    let answer = put_media(http, m, RoapMessage::offer(1, offer)).await?;
    let sdp = match (answer.message_type, answer.sdps.first()) {
        (MessageType::Answer, Some(sdp)) => sdp,
        (t, _) => {
            return Err(BenchError::Setup(format!(
                "the offer was answered {t:?} ({:?})",
                answer.error_cause
            )));
        }
    };
    peer.accept_answer(sdp)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let running = peer.start();
    if silent {
        running.set_loudness(0.0);
    }
    Ok(running)
}
