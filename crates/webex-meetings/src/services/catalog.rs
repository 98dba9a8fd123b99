//! U2C service discovery: the limited catalog (no auth), then the catalog
//! for the authenticated user.

use url::Url;
use webex_wire::catalog::{Catalog, services};

use crate::error::Error;
use crate::http::{Http, HttpRequest, join};

/// Fetches both catalogs at once (two requests in flight, so one round
/// trip) and merges them (the authenticated one wins). Fails when the
/// result has no `wdm`.
pub(crate) async fn fetch(
    http: &Http,
    discovery: &Url,
    org_id: Option<&str>,
) -> Result<Catalog, Error> {
    let base = discovery.as_str();
    let mut limited_url = join(base, "limited/catalog")?;
    match org_id {
        Some(org) => limited_url
            .query_pairs_mut()
            .append_pair("orgId", org)
            .append_pair("format", "hostmap"),
        None => limited_url
            .query_pairs_mut()
            .append_pair("mode", "DEFAULT_BY_PROXIMITY")
            .append_pair("format", "hostmap"),
    };
    let mut url = join(base, "catalog")?;
    url.query_pairs_mut().append_pair("format", "hostmap");
    let (limited, postauth) = tokio::join!(
        http.json::<Catalog>(HttpRequest::get(limited_url).without_auth()),
        http.json::<Catalog>(HttpRequest::get(url.clone())),
    );
    let (mut catalog, postauth) = (limited?, postauth?);
    catalog.service_links.extend(postauth.service_links);
    catalog.host_catalog.extend(postauth.host_catalog);

    if catalog.service(services::WDM).is_none() {
        return Err(Error::InvalidResponse {
            url: crate::http::strip_query(&url),
            message: "the service catalog lists no `wdm` service; check the discovery URL".into(),
        });
    }
    Ok(catalog)
}
