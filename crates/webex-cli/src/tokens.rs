//! `webex token create`, `webex oauth-client create`, `webex guest-issuer
//! create`: work directly on the database, so they run while the server runs
//! (and from another machine sharing PostgreSQL).

use secrecy::ExposeSecret;
use webex_server::identity::admin;

use crate::cli::{GuestIssuerCreateArgs, OAuthClientCreateArgs, TokenCreateArgs};

/// Prints one token on stdout and nothing else.
pub async fn create_token(args: TokenCreateArgs) -> anyhow::Result<()> {
    let store = webex_server::store::connect(&args.database.url).await?;
    let token = admin::create_token(
        store.as_ref(),
        &args.region,
        &args.email,
        args.kind,
        args.expires_in,
    )
    .await?;
    println!("{}", token.expose_secret());
    store.close().await;
    Ok(())
}

/// Prints `client_id` and `client_secret` (one `key=value` per line).
pub async fn create_oauth_client(args: OAuthClientCreateArgs) -> anyhow::Result<()> {
    let store = webex_server::store::connect(&args.database.url).await?;
    let (id, secret) = admin::create_oauth_client(
        store.as_ref(),
        &args.name,
        &args.redirect_uris,
        &args.scopes,
    )
    .await?;
    println!("client_id={id}");
    println!("client_secret={}", secret.expose_secret());
    store.close().await;
    Ok(())
}

/// Prints `issuer_id` and the base64 `secret` (one `key=value` per line).
pub async fn create_guest_issuer(args: GuestIssuerCreateArgs) -> anyhow::Result<()> {
    let store = webex_server::store::connect(&args.database.url).await?;
    let (id, secret) = admin::create_guest_issuer(store.as_ref(), &args.name, &args.org).await?;
    println!("issuer_id={id}");
    println!("secret={}", secret.expose_secret());
    store.close().await;
    Ok(())
}
