//! `GET /v1/people/me` and `GET /v1/people/{id}`.

use axum::extract::{Path, State};
use webex_wire::error::ErrorBody;
use webex_wire::people::Person;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json};
use crate::state::AppState;
use crate::store::PersonRecord;
use crate::time::rfc3339;

/// The wire form of a stored person.
pub(crate) fn to_wire(p: &PersonRecord) -> Person {
    Person {
        id: p.id.clone(),
        emails: vec![p.email.clone()],
        display_name: p.display_name.clone(),
        org_id: p.org_id.clone(),
        kind: p.kind,
        created: Some(rfc3339(p.created_at)),
    }
}

/// The caller's own person.
#[utoipa::path(
    get,
    path = "/v1/people/me",
    tag = "people",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Person),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(crate) async fn me(caller: Caller) -> Json<Person> {
    Json(to_wire(&caller.person))
}

/// A person in the caller's org.
#[utoipa::path(
    get,
    path = "/v1/people/{id}",
    tag = "people",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Person id")),
    responses(
        (status = 200, description = "The person", body = Person),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such person in the caller's org", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub(crate) async fn by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Person>> {
    match state.store.person(&id).await? {
        Some(p) if p.org_id == caller.person.org_id => Ok(Json(to_wire(&p))),
        _ => Err(ApiError::not_found(format!(
            "No person with id `{id}` in your organization"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webex_wire::people::PersonType;

    #[test]
    fn wire_form_has_rfc3339_created() {
        let p = PersonRecord {
            id: "p1".into(),
            org_id: "o1".into(),
            email: "a@b.c".into(),
            display_name: "A".into(),
            kind: PersonType::Bot,
            created_at: 0,
        };
        let w = to_wire(&p);
        assert_eq!(w.emails, ["a@b.c"]);
        assert_eq!(w.created.as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(w.kind, PersonType::Bot);
    }
}
