//! `GET {hydra}/people/me`.

use serde::{Deserialize, Serialize};

/// A person as the people API returns it.
///
/// ```
/// use webex_wire::people::{Person, PersonType};
/// let p: Person = serde_json::from_str(r#"{"id":"u1","emails":["a@b.c"],"displayName":"A","orgId":"o1","type":"bot"}"#)?;
/// assert_eq!(p.kind, PersonType::Bot);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Person id.
    pub id: String,
    /// Email addresses.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Org id.
    #[serde(default)]
    pub org_id: String,
    /// Kind of identity.
    #[serde(rename = "type", default)]
    pub kind: PersonType,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// Kind of identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PersonType {
    /// A human user.
    #[default]
    Person,
    /// A bot.
    Bot,
    /// A guest (guest issuer).
    Appuser,
}

impl PersonType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Bot => "bot",
            Self::Appuser => "appuser",
        }
    }
}

impl std::str::FromStr for PersonType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "person" => Ok(Self::Person),
            "bot" => Ok(Self::Bot),
            "appuser" => Ok(Self::Appuser),
            other => Err(format!(
                "unknown person type `{other}` (expected person, bot or appuser)"
            )),
        }
    }
}
