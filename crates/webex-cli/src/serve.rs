//! `webex serve`.

use secrecy::SecretString;
use webex_server::connections::ConnectionLimits;
use webex_server::limits::RateLimits;
use webex_server::tls::TlsConfig;
use webex_server::{Server, ServerConfig};

use crate::cli::ServeArgs;

/// Runs the server until SIGINT/SIGTERM. Prints `listening on <url>` on
/// stdout once it accepts connections (scripts wait for that line); with
/// `--dev`, the dev block follows it (see [`crate::dev`]).
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.public_url.is_none() && args.listen.ip().is_unspecified() {
        // The catalog would send clients to http://0.0.0.0:PORT, which is
        // no address they can reach.
        tracing::warn!(
            listen = %args.listen,
            "listening on every address without --public-url: the catalog advertises \
             http://{} to clients, which they cannot reach from another machine; pass \
             --public-url (or WEBEX_PUBLIC_URL) with the URL clients use",
            args.listen
        );
    }
    let database = crate::tokens::describe(&args.database.url);
    let mut config = ServerConfig::new(args.listen, args.database.url);
    config.public_url = args.public_url;
    config.metrics_listen = args.metrics_listen;
    config.redis_url = args.redis;
    // --dev always has an operator API: the given token, else a fresh one.
    let admin_generated = args.dev && args.admin_token.is_none();
    let admin_token = if admin_generated {
        Some(crate::dev::generate_admin_token())
    } else {
        args.admin_token
    };
    config.admin_token = admin_token.clone().map(SecretString::from);
    config.device_limit = args.device_limit;
    config.cors_origins = args.cors_origins;
    config.sip_domain = args.sip_domain;
    config.locus_idle_grace = std::time::Duration::from_secs(args.locus_idle_grace);
    config.rate_limits = if args.dev || args.rate_limit == "off" {
        RateLimits::off()
    } else {
        RateLimits {
            registrations: Some(args.registration_rate),
            token_endpoints: Some(args.token_rate),
            ..RateLimits::default()
        }
    };
    config.connections = ConnectionLimits {
        header_read_timeout: args.header_read_timeout,
        body_read_timeout: args.body_read_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
        max_connections_per_peer: args.max_connections_per_peer,
        trusted_proxies: webex_server::proxy::TrustedProxies::new(
            args.trusted_proxies.iter().copied(),
        ),
    };
    if args.client_log_max_total_mib < args.client_log_max_upload_mib {
        anyhow::bail!(
            "--client-log-max-total-mib ({}) must be at least --client-log-max-upload-mib ({})",
            args.client_log_max_total_mib,
            args.client_log_max_upload_mib
        );
    }
    config.mercury_ping_interval = args.mercury_ping_interval;
    config.meeting_retention =
        (!args.meeting_retention.is_zero()).then_some(args.meeting_retention);
    config.client_logs.max_upload_bytes = usize::try_from(args.client_log_max_upload_mib)? << 20;
    config.client_logs.max_total_bytes = u64::from(args.client_log_max_total_mib) << 20;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(TlsConfig { cert, key });
    }
    config.cloud_quirks = args.quirks.to_config();
    if config.cloud_quirks.any() {
        tracing::info!(quirks = %config.cloud_quirks.names().join(","), "cloud quirks on: some answers cost clients a round trip");
    }
    if let Some(secret) = args.permission_token_secret.filter(|s| !s.is_empty()) {
        config.permission_secret = Some(SecretString::from(secret));
    }
    if let Some(node) = args.node_id {
        config.node_id = node;
    }
    config.media = args.media.to_settings();
    let server = Server::start(config).await?;
    println!("listening on {}", server.base_url());
    if let Some(at) = server.metrics_addr() {
        println!("metrics on http://{at}/metrics");
    }
    if args.dev {
        let state = server.state();
        let people = crate::dev::people(state.store.as_ref(), &state.config.region).await?;
        let banner = crate::dev::Banner {
            base_url: server.base_url(),
            database: &database,
            people: &people,
            admin_token: admin_token.as_deref().unwrap_or_default(),
            admin_generated,
        };
        println!("{}", banner.render());
        tracing::info!(
            people = people.len(),
            discovery = %banner.discovery_url(),
            "dev mode: people and tokens ready"
        );
    }
    server.wait_for_signal_then_shutdown().await;
    Ok(())
}
