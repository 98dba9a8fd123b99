//! Tracking ids: `<prefix>_<uuid>_<n>` on every request, echoed in every answer.

/// The HTTP header carrying the tracking id (lower case, as Webex sends it).
pub const HEADER: &str = "trackingid";

/// Makes a tracking id with the given prefix, per-client base and sequence.
///
/// ```
/// let id = webex_wire::tracking::format("webex-rs", "7d0c…", 3);
/// assert_eq!(id, "webex-rs_7d0c…_3");
/// ```
pub fn format(prefix: &str, base: &str, n: u64) -> String {
    format!("{prefix}_{base}_{n}")
}
