//! `POST {webex-appapi-service}/meetingInfo`: what the official SDK asks
//! about an address before joining.
//!
//! Answers 404 for anything this server does not host, and never 403 or 423
//! (the SDK reads those as "password" and "captcha" and then refuses to
//! join). Every answer carries a `permissionToken` for the caller and that
//! space (a short-lived JWT, [`super::permission`]), which a join by
//! address then requires, as the cloud's does. Never sends
//! `locusClusterUrl` (it moves joins to another host).
//!
//! A lookup creates nothing ([`service::look_up`]; the join, through
//! [`service::resolve`], makes the space). For a space not made yet the
//! answer comes from the address alone: `sipUrl`, `meetingJoinUrl`,
//! `isPmr` and `meetingName` as for a space that exists, no
//! `meetingNumber` (drawn when the space is made; the official SDK joins
//! by `meetingJoinUrl`) and no `locusUrl`.
//!
//! Outside a room owner's org the answer holds only what joining needs: no
//! host id or name, a meeting name without the owner's name; and a person
//! id (`userId`) names nobody of another org (404).
//! Lookups are rate limited per token and address ([`crate::limits`]).

use axum::extract::State;
use webex_wire::error::ErrorBody;
use webex_wire::locus::{MeetingInfo, MeetingInfoRequest};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json};
use crate::state::AppState;
use crate::store::meetings::SpaceKey;

use super::address;
use super::service::{self, LocusError, Lookup};

/// Meeting information for an address, number, link, person or Locus.
#[utoipa::path(
    post,
    path = "/wbxappapi/v1/meetingInfo",
    tag = "locus",
    request_body = MeetingInfoRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The meeting; `locusUrl` while it is in progress", body = MeetingInfo),
        (status = 400, description = "Malformed body, or no way of naming a meeting in it", body = ErrorBody),
        (status = 415, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "Not a meeting this server hosts", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(super) async fn meeting_info(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<MeetingInfoRequest>,
) -> ApiResult<Json<MeetingInfo>> {
    if !may_look_up_by_person_id(&state, &caller, &body).await? {
        return Err(
            LocusError::NotFound("No meeting for that request on this server".into()).into(),
        );
    }
    let Some(found) = find(&state, &caller, &body).await? else {
        return Err(
            LocusError::NotFound("No meeting for that request on this server".into()).into(),
        );
    };
    // A space that exists, or what joining would create, as its name and
    // owner: the answer is the same but for the meeting number (drawn when
    // the space is made) and the Locus.
    let (name, owner_id, owner, meeting_number, locus) = match found {
        Lookup::Space(space) => {
            let locus = state.store.active_locus_of(&space.id).await?;
            let owner = match &space.owner_id {
                Some(id) => state.store.person(id).await?,
                None => None,
            };
            (
                space.name,
                space.owner_id,
                owner,
                space.meeting_number,
                locus,
            )
        }
        Lookup::Unmade { name, owner } => {
            let owner_id = owner.as_ref().map(|p| p.id.clone());
            (name, owner_id, owner, String::new(), None)
        }
    };
    let site = super::site(&state);
    let permission_token = super::permission::issue(
        &state,
        &caller.person.id,
        &name,
        super::permission::now_secs(),
    )?;
    // Only the owner's org learns who owns a room.
    let owner = owner.filter(|p| p.org_id == caller.person.org_id);
    let host_id = owner.as_ref().map(|p| p.id.clone());
    Ok(Json(MeetingInfo {
        sip_url: address::sip_uri(&name, site.sip_domain),
        meeting_number,
        meeting_join_url: address::join_url(site.public_url, &name),
        locus_url: locus.map(|l| site.locus_url(&l.id)),
        meeting_name: Some(match (&owner, &owner_id) {
            (Some(p), _) => format!("{}'s personal room", p.display_name),
            (None, Some(_)) => "Personal room".to_owned(),
            (None, None) => name.clone(),
        }),
        host_id,
        host_display_name: owner.map(|p| p.display_name),
        is_pmr: owner_id.is_some(),
        permission_token: Some(permission_token),
        locus_cluster_url: None,
    }))
}

/// `false` when the request names a person by id (`userId`, and no address
/// before it) who is not of the caller's org: meetingInfo is no directory,
/// and looking someone up must not create their room.
async fn may_look_up_by_person_id(
    state: &AppState,
    caller: &Caller,
    body: &MeetingInfoRequest,
) -> ApiResult<bool> {
    let named = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if named(&body.sip_url) || named(&body.meeting_key) || named(&body.meeting_url) {
        return Ok(true);
    }
    let Some(user) = body
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Ok(true);
    };
    let id = decode_person_id(user);
    if !address::plausible_id(&id) {
        return Ok(true);
    }
    Ok(match state.store.person(&id).await? {
        Some(p) => p.org_id == caller.person.org_id,
        None => true,
    })
}

/// The space the request names, trying its fields in the SDK's order of
/// preference, or what joining would create; creates nothing.
/// `Ok(None)`: not ours.
async fn find(
    state: &AppState,
    caller: &Caller,
    body: &MeetingInfoRequest,
) -> ApiResult<Option<Lookup>> {
    let store = &state.store;
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(a) = given(&body.sip_url)
        .or_else(|| given(&body.meeting_key))
        .or_else(|| given(&body.meeting_url))
    {
        return Ok(service::look_up(state, &a, &caller.person.id).await?);
    }
    if let Some(user) = given(&body.user_id) {
        let id = decode_person_id(&user);
        if !address::plausible_id(&id) {
            return Ok(None);
        }
        return Ok(match store.person(&id).await? {
            Some(p) => Some(service::look_up_personal_room(state, &p).await?),
            None => None,
        });
    }
    if let Some(uuid) = given(&body.meeting_uuid) {
        if !address::plausible_id(&uuid) {
            return Ok(None);
        }
        return Ok(store.space(SpaceKey::Id(&uuid)).await?.map(Lookup::Space));
    }
    if let Some(locus_id) = given(&body.locus_id).filter(|id| address::plausible_id(id)) {
        // Only participants learn a meeting's address from its Locus id.
        return Ok(match store.meeting(&locus_id).await? {
            Some(m)
                if m.participant_of(&caller.person.id)
                    .is_some_and(|p| p.admitted) =>
            {
                Some(Lookup::Space(m.space))
            }
            _ => None,
        });
    }
    if given(&body.conversation_url).is_some() {
        return Ok(None);
    }
    Err(ApiError::bad_request(
        "Name the meeting: sipUrl, meetingKey, meetingUrl, userId, meetingUUID or locusId",
    ))
}

/// A person id from a plain id or a hydra id (`base64("ciscospark://…/PEOPLE/<id>")`).
fn decode_person_id(id: &str) -> String {
    use base64::Engine;
    let bare = id.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(bare)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(bare))
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|d| d.rsplit_once("/PEOPLE/")) {
        Some((_, uuid)) => uuid.to_owned(),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hydra_people_ids() {
        use base64::Engine;
        let hydra =
            base64::engine::general_purpose::STANDARD.encode("ciscospark://us/PEOPLE/1234-abcd");
        assert_eq!(decode_person_id(&hydra), "1234-abcd");
        assert_eq!(decode_person_id("1234-abcd"), "1234-abcd");
    }
}
