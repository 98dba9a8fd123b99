//! `webex token create`, `webex oauth-client create`, `webex guest-issuer
//! create`: work directly on the database, so they run while the server runs
//! (and from another machine sharing PostgreSQL).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use webex_server::identity::admin;
use webex_server::store::Store;

use crate::cli::{
    DEFAULT_DATABASE, DatabaseArgs, GuestIssuerCreateArgs, OAuthClientCreateArgs, TokenCreateArgs,
};

/// The database the command writes to. The default SQLite file is never
/// created here: run from another directory, that would silently make a new
/// database whose tokens the running server does not know. An explicit
/// `--database` (or `WEBEX_DATABASE_URL`) is opened, or created, as given.
/// Says on stderr which database it is.
async fn open(database: &DatabaseArgs) -> anyhow::Result<Arc<dyn Store>> {
    let default_file = DEFAULT_DATABASE.trim_start_matches("sqlite://");
    if database.url == DEFAULT_DATABASE && !Path::new(default_file).exists() {
        let here = std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
        anyhow::bail!(
            "no database at {default_file} under {here}: run this where `webex serve` runs \
             (it creates ./{default_file}), or pass --database (or WEBEX_DATABASE_URL) to name the \
             server's database"
        );
    }
    let store = webex_server::store::connect(&database.url)
        .await
        .with_context(|| format!("opening the database {}", describe(&database.url)))?;
    eprintln!("webex: database {}", describe(&database.url));
    Ok(store)
}

/// A database URL to show: the absolute path of a SQLite file; a
/// PostgreSQL URL without its password.
pub(crate) fn describe(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        return format!("postgres://{host}");
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    std::path::absolute(path)
        .map_or_else(|_| url.to_owned(), |p| format!("sqlite://{}", p.display()))
}

/// Prints one token on stdout and nothing else.
pub async fn create_token(args: TokenCreateArgs) -> anyhow::Result<()> {
    let store = open(&args.database).await?;
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
    let store = open(&args.database).await?;
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
    let store = open(&args.database).await?;
    let (id, secret) = admin::create_guest_issuer(store.as_ref(), &args.name, &args.org).await?;
    println!("issuer_id={id}");
    println!("secret={}", secret.expose_secret());
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn database_descriptions_hide_passwords_and_show_absolute_paths() {
        assert_eq!(
            describe("postgres://user:secret@db.example:5432/webex"),
            "postgres://db.example:5432/webex"
        );
        let shown = describe("sqlite://webex-data/webex.sqlite");
        assert!(shown.starts_with("sqlite:///"), "{shown}");
        assert!(shown.ends_with("/webex-data/webex.sqlite"), "{shown}");
    }
}
