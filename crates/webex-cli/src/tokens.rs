//! `webex token create`: works directly on the database, so it runs while
//! the server runs (and on another machine sharing PostgreSQL).

use secrecy::ExposeSecret;
use webex_server::auth::{TokenSpec, mint_token};
use webex_server::store::NewPerson;

use crate::cli::TokenCreateArgs;

/// Prints one token on stdout and nothing else.
pub async fn create(args: TokenCreateArgs) -> anyhow::Result<()> {
    let email = args.email.trim().to_lowercase();
    let domain = match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => domain.to_owned(),
        _ => anyhow::bail!("`{email}` is not an email address"),
    };
    let store = webex_server::store::connect(&args.database.url).await?;
    let person = store
        .upsert_person(&NewPerson {
            email: email.clone(),
            display_name: email.clone(),
            kind: args.kind,
            org_name: domain,
        })
        .await?;
    let ttl_ms = args
        .expires_in
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let minted = mint_token(
        &person,
        "PF84",
        TokenSpec {
            scope: "spark:all".into(),
            ttl_ms,
            ..TokenSpec::default()
        },
    );
    store.insert_token(&minted.record).await?;
    println!("{}", minted.text.expose_secret());
    Ok(())
}
