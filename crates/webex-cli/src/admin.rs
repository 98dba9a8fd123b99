//! `webex admin`: the operator API (`/admin/api/v1/…`) from the command
//! line. One call per command; a readable table by default, the server's
//! JSON as it is with `--json`. Errors say what to fix.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{
    AdminArgs, AdminClientLogsCommand, AdminCommand, AdminEventsCommand, AdminMeetingsCommand,
    AdminTokensCommand,
};

/// What went wrong talking to the operator API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No token given at all.
    #[error(
        "no admin token: pass --admin-token or WEBEX_ADMIN_TOKEN (webex serve --dev prints one)"
    )]
    NoToken,
    /// The server refused the token (401).
    #[error(
        "the admin token is not valid: pass --admin-token or WEBEX_ADMIN_TOKEN (webex serve --dev prints one)"
    )]
    Unauthorized,
    /// Nothing listens at the URL.
    #[error("no server at {url}: start one (webex serve) or pass --server / WEBEX_SERVER")]
    NoServer {
        /// The server URL.
        url: String,
    },
    /// The server runs without an admin token, so the API does not exist.
    #[error(
        "the admin API is off on {url}: start webex serve with --admin-token (or WEBEX_ADMIN_TOKEN)"
    )]
    Disabled {
        /// The server URL.
        url: String,
    },
    /// The server refused the request; its message says why.
    #[error("the server answered {status}: {message} (trackingId {tracking_id})")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's `message`.
        message: String,
        /// The request's tracking id, for the server's logs.
        tracking_id: String,
    },
    /// `--server` is no URL.
    #[error("--server {url} is not an http(s) URL")]
    BadServer {
        /// What was given.
        url: String,
    },
    /// An argument the server would refuse anyway.
    #[error("{0}")]
    BadInput(String),
    /// The request did not get an answer (timeout, reset).
    #[error("talking to {url} failed: {source}")]
    Transport {
        /// The server URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// An answer this command does not understand.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The server URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Writing the output failed.
    #[error("writing {what}: {source}")]
    Output {
        /// Where.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

impl AdminError {
    /// Whether trying again unchanged may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NoServer { .. } | Self::Transport { .. } => true,
            Self::Refused { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::SERVICE_UNAVAILABLE
            }
            _ => false,
        }
    }
}

/// Runs one `webex admin` command.
pub async fn run(args: AdminArgs) -> Result<(), AdminError> {
    let api = Api::new(&args)?;
    let json_out = args.json;
    match args.command {
        AdminCommand::Connections {
            device_id,
            person_id,
        } => {
            let query = [("deviceId", device_id), ("personId", person_id)];
            let v = api.get("connections", &query).await?;
            print(json_out, &v, render_connections)
        }
        AdminCommand::Meetings {
            limit,
            command: None,
        } => {
            let v = api
                .get("meetings", &[("limit", limit.map(|n| n.to_string()))])
                .await?;
            print(json_out, &v, render_meetings)
        }
        AdminCommand::Meetings {
            command: Some(AdminMeetingsCommand::End { locus_id }),
            ..
        } => {
            let path = format!("meetings/{}/end", segment(&locus_id)?);
            let v = api.send(Method::POST, &path, &[], None).await?;
            print(json_out, &v, |v| {
                format!(
                    "ended {} ({})\n",
                    v["locus"]["url"].as_str().unwrap_or(&locus_id),
                    text(&v["locus"]["fullState"]["state"])
                )
            })
        }
        AdminCommand::MediaSessions => {
            let v = api.get("media/sessions", &[]).await?;
            print(json_out, &v, render_media_sessions)
        }
        AdminCommand::Events(AdminEventsCommand::Publish {
            device_id,
            person_id,
            email,
            event_type,
            data,
        }) => {
            let data = event_data(data.as_deref(), event_type.as_deref())?;
            let mut body = json!({ "data": data });
            for (key, value) in [
                ("deviceId", device_id),
                ("personId", person_id),
                ("email", email),
            ] {
                if let Some(value) = value {
                    body[key] = Value::String(value);
                }
            }
            let v = api.send(Method::POST, "events", &[], Some(body)).await?;
            print(json_out, &v, |v| {
                format!(
                    "published {}: {} device(s) online, {} offline (they will not see it)\n",
                    text(&v["id"]),
                    text(&v["onlineDevices"]),
                    text(&v["offlineDevices"])
                )
            })
        }
        AdminCommand::Tokens(AdminTokensCommand::Revoke { token }) => {
            let body = json!({ "token": token });
            let v = api
                .send(Method::POST, "tokens/revoke", &[], Some(body))
                .await?;
            print(json_out, &v, |v| {
                if v["revoked"] == true {
                    "revoked; its sockets are closed\n".to_owned()
                } else {
                    "already revoked\n".to_owned()
                }
            })
        }
        AdminCommand::ClientLogs(command) => client_logs(&api, json_out, command).await,
    }
}

async fn client_logs(
    api: &Api,
    json_out: bool,
    command: AdminClientLogsCommand,
) -> Result<(), AdminError> {
    match command {
        AdminClientLogsCommand::List {
            person_id,
            email,
            before,
            limit,
        } => {
            let query = [
                ("personId", person_id),
                ("email", email),
                ("before", before.map(|b| b.to_string())),
                ("limit", limit.map(|n| n.to_string())),
            ];
            let v = api.get("clientLogs", &query).await?;
            print(json_out, &v, render_client_logs)
        }
        AdminClientLogsCommand::Show { id } => {
            let v = api
                .get(&format!("clientLogs/{}", segment(&id)?), &[])
                .await?;
            print(json_out, &v, render_record)
        }
        AdminClientLogsCommand::Download { id, output } => {
            let bytes = api
                .bytes(&format!("clientLogs/{}/content", segment(&id)?))
                .await?;
            match output {
                Some(path) => std::fs::write(&path, &bytes).map_err(|source| AdminError::Output {
                    what: path.display().to_string(),
                    source,
                }),
                None => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|source| AdminError::Output {
                        what: "stdout".into(),
                        source,
                    }),
            }
        }
        AdminClientLogsCommand::Delete { id } => {
            api.send(
                Method::DELETE,
                &format!("clientLogs/{}", segment(&id)?),
                &[],
                None,
            )
            .await?;
            if json_out {
                println!("{{}}");
            } else {
                println!("deleted {id}");
            }
            Ok(())
        }
    }
}

/// A successful answer: its body as sent and as JSON (`null` when empty).
struct Answer {
    raw: Vec<u8>,
    json: Value,
}

/// The operator API of one server, with the admin token.
struct Api {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl Api {
    fn new(args: &AdminArgs) -> Result<Self, AdminError> {
        let server = args.server.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&server).map_err(|_| AdminError::BadServer {
            url: server.clone(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AdminError::BadServer { url: server });
        }
        let token = args
            .admin_token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or(AdminError::NoToken)?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|source| AdminError::Transport {
                url: server.clone(),
                source,
            })?;
        Ok(Self {
            http,
            server,
            token,
        })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, Option<String>)],
    ) -> Result<Answer, AdminError> {
        self.send(Method::GET, path, query, None).await
    }

    /// One request; the answer's JSON (`null` for an empty body).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, Option<String>)],
        body: Option<Value>,
    ) -> Result<Answer, AdminError> {
        let raw = self.call(method, path, query, body).await?;
        if raw.is_empty() {
            return Ok(Answer {
                json: Value::Null,
                raw,
            });
        }
        let json = serde_json::from_slice(&raw).map_err(|e| AdminError::Unexpected {
            url: self.server.clone(),
            reason: format!("not JSON: {e}"),
        })?;
        Ok(Answer { json, raw })
    }

    async fn bytes(&self, path: &str) -> Result<Vec<u8>, AdminError> {
        self.call(Method::GET, path, &[], None).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, Option<String>)],
        body: Option<Value>,
    ) -> Result<Vec<u8>, AdminError> {
        let query: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        let mut req = self
            .http
            .request(method, format!("{}/admin/api/v1/{path}", self.server))
            .bearer_auth(&self.token)
            .query(&query);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let transport = |source: reqwest::Error| {
            if source.is_connect() {
                AdminError::NoServer {
                    url: self.server.clone(),
                }
            } else {
                AdminError::Transport {
                    url: self.server.clone(),
                    source,
                }
            }
        };
        let res = req.send().await.map_err(transport)?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(self.refusal(status, &bytes))
    }

    fn refusal(&self, status: StatusCode, body: &[u8]) -> AdminError {
        let error: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = error["message"].as_str().unwrap_or_default().to_owned();
        if status == StatusCode::UNAUTHORIZED {
            return AdminError::Unauthorized;
        }
        if status == StatusCode::NOT_FOUND && message.contains("admin API is not enabled") {
            return AdminError::Disabled {
                url: self.server.clone(),
            };
        }
        if error.is_null() {
            return AdminError::Unexpected {
                url: self.server.clone(),
                reason: format!(
                    "{status} without a Webex error body: is {} a webex server?",
                    self.server
                ),
            };
        }
        AdminError::Refused {
            status,
            message,
            tracking_id: error["trackingId"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// A path segment from user input: refused when it would change the path.
fn segment(id: &str) -> Result<&str, AdminError> {
    if id.is_empty() || id.contains(['/', '?', '#', '%']) || id == "." || id == ".." {
        return Err(AdminError::BadInput(format!(
            "`{id}` is not an id (no '/', '?', '#' or '%')"
        )));
    }
    Ok(id)
}

/// `data` of a published event: `--data` (a JSON object) with
/// `--event-type` set as its `eventType`.
fn event_data(data: Option<&str>, event_type: Option<&str>) -> Result<Value, AdminError> {
    let mut data = match data {
        None => json!({}),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Err(AdminError::BadInput(
                    "--data must be a JSON object, e.g. '{\"text\":\"hi\"}'".into(),
                ));
            }
            Err(e) => return Err(AdminError::BadInput(format!("--data is not JSON: {e}"))),
        },
    };
    if let Some(t) = event_type {
        data["eventType"] = Value::String(t.to_owned());
    }
    if data["eventType"]
        .as_str()
        .is_none_or(|t| t.trim().is_empty())
    {
        return Err(AdminError::BadInput(
            "an event needs a type: pass --event-type (or \"eventType\" in --data)".into(),
        ));
    }
    Ok(data)
}

/// Prints the answer's body as the server sent it (`--json`), or what
/// `render` makes of it.
fn print(
    json_out: bool,
    answer: &Answer,
    render: impl Fn(&Value) -> String,
) -> Result<(), AdminError> {
    let mut out = if json_out {
        answer.raw.clone()
    } else {
        render(&answer.json).into_bytes()
    };
    if out.last().is_some_and(|b| *b != b'\n') {
        out.push(b'\n');
    }
    std::io::stdout()
        .write_all(&out)
        .map_err(|source| AdminError::Output {
            what: "stdout".into(),
            source,
        })
}

/// A JSON value as table text: strings bare, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Left-aligned columns, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count());
            if i + 1 < widths.len() {
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

fn render_connections(v: &Value) -> String {
    let list = items(v, "connections");
    if list.is_empty() {
        return "no connections\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                text(&c["deviceId"]),
                text(&c["personId"]),
                text(&c["node"]),
                text(&c["connectedAt"]),
                if c["multipleConnections"] == true {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    table(
        &["DEVICE", "PERSON", "NODE", "CONNECTED AT", "MULTIPLE"],
        &rows,
    )
}

fn render_meetings(v: &Value) -> String {
    let list = items(v, "meetings");
    if list.is_empty() {
        return "no active meetings\n".into();
    }
    let mut out = String::new();
    for m in list {
        let participants = items(m, "participants");
        let joined = participants
            .iter()
            .filter(|p| p["state"] == "JOINED")
            .count();
        out.push_str(&format!(
            "{}  {}  number {}  started {}  {joined} joined\n",
            text(&m["locusId"]),
            text(&m["sipUri"]),
            text(&m["meetingNumber"]),
            text(&m["started"]),
        ));
        let rows: Vec<Vec<String>> = participants
            .iter()
            .map(|p| {
                let host = p["personId"] == m["hostId"] && !p["personId"].is_null();
                vec![
                    format!("  {}", text(&p["email"])),
                    text(&p["name"]),
                    text(&p["state"]),
                    if host { "host".into() } else { String::new() },
                    items(p, "devices").len().to_string(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["  PARTICIPANT", "NAME", "STATE", "ROLE", "DEVICES"],
            &rows,
        ));
    }
    out
}

fn render_media_sessions(v: &Value) -> String {
    let mut out = format!(
        "node {}: media {}\n",
        text(&v["node"]),
        if v["enabled"] == true { "on" } else { "off" }
    );
    let list = items(v, "sessions");
    if list.is_empty() {
        out.push_str("no media sessions\n");
        return out;
    }
    let flag = |b: &Value, yes: &str| {
        if *b == true {
            yes.to_owned()
        } else {
            String::new()
        }
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let muted = [
                flag(&s["audioMuted"], "audio"),
                flag(&s["videoMuted"], "video"),
            ]
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect::<Vec<_>>()
            .join("+");
            vec![
                text(&s["locusId"]),
                text(&s["participantId"]),
                text(&s["state"]),
                if muted.is_empty() { "-".into() } else { muted },
                format!("{}/{}", text(&s["framesIn"]), text(&s["framesOut"])),
                format!("{}/{}", text(&s["bytesIn"]), text(&s["bytesOut"])),
                flag(&s["presenting"], "presenting"),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "LOCUS",
            "PARTICIPANT",
            "STATE",
            "MUTED",
            "FRAMES IN/OUT",
            "BYTES IN/OUT",
            "SHARE",
        ],
        &rows,
    ));
    out
}

/// One object as `key  value` lines.
fn render_record(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_object()
        .map(|o| o.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect())
        .unwrap_or_default();
    let mut out = table(&["FIELD", "VALUE"], &rows);
    // No header for a record: the keys say what each line is.
    out.drain(..out.find('\n').map_or(0, |i| i + 1));
    out
}

fn render_client_logs(v: &Value) -> String {
    let list = items(v, "items");
    if list.is_empty() {
        return "no client logs\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|l| {
            vec![
                text(&l["id"]),
                text(&l["userId"]),
                text(&l["filename"]),
                text(&l["state"]),
                text(&l["size"]),
                text(&l["createdAt"]),
            ]
        })
        .collect();
    let mut out = table(
        &["ID", "PERSON", "FILE", "STATE", "BYTES", "CREATED (ms)"],
        &rows,
    );
    if let Some(next) = v["next"].as_i64() {
        out.push_str(&format!("more: --before {next}\n"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_trim() {
        let t = table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxxx  y\nz\n");
    }

    #[test]
    fn event_data_needs_a_type_and_an_object() {
        assert_eq!(
            event_data(Some(r#"{"a":1}"#), Some("x.y")).unwrap(),
            json!({"a": 1, "eventType": "x.y"})
        );
        assert!(event_data(None, Some("x")).is_ok());
        assert!(event_data(Some(r#"{"eventType":"x"}"#), None).is_ok());
        assert!(event_data(None, None).is_err());
        assert!(event_data(Some("[1]"), Some("x")).is_err());
        assert!(event_data(Some("{"), Some("x")).is_err());
    }

    #[test]
    fn ids_cannot_escape_their_path() {
        assert!(segment("abc-123").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a%2f"] {
            assert!(segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(AdminError::NoServer { url: "u".into() }.is_retryable());
        assert!(!AdminError::Unauthorized.is_retryable());
        assert!(
            AdminError::Refused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: String::new(),
                tracking_id: String::new()
            }
            .is_retryable()
        );
    }
}
