//! The `webex` command: run the Webex-compatible meetings server, mint
//! tokens, register devices, list/join/end meetings, demo, benchmarks.

mod admin;
mod cli;
mod client;
mod demo;
mod dev;
mod join_output;
mod media;
mod meetings;
mod serve;
mod tokens;

use clap::Parser;

/// mimalloc instead of glibc malloc: the server allocates per request and per
/// frame from many threads, where glibc's arenas cost ~20 % of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(&cli);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // EX_TEMPFAIL: a script may try again.
            if e.downcast_ref::<admin::AdminError>()
                .is_some_and(admin::AdminError::is_retryable)
            {
                std::process::ExitCode::from(75)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve::run(args).await,
        cli::Command::Token(cli::TokenCommand::Create(args)) => tokens::create_token(args).await,
        cli::Command::OAuthClient(cli::OAuthClientCommand::Create(args)) => {
            tokens::create_oauth_client(args).await
        }
        cli::Command::GuestIssuer(cli::GuestIssuerCommand::Create(args)) => {
            tokens::create_guest_issuer(args).await
        }
        cli::Command::Register(args) => client::register(args).await,
        cli::Command::Devices(command) => client::devices(command).await,
        cli::Command::Meetings(command) => meetings::run(command).await,
        cli::Command::Admin(args) => admin::run(args).await.map_err(Into::into),
        cli::Command::Media(cli::MediaCommand::Info { file, json }) => {
            media::info::run(&file, json)
        }
        cli::Command::Demo(args) => demo::run(args).await,
        #[cfg(feature = "bench")]
        cli::Command::Bench(args) => {
            println!("{}", webex_bench::run(args).await?);
            Ok(())
        }
        #[cfg(not(feature = "bench"))]
        cli::Command::Bench(_) => Err(anyhow::anyhow!(
            "this webex was built without benchmarks; build it with them: \
             cargo build --release -p webex-cli --features bench"
        )),
    }
}

/// Logs go to stderr so stdout stays machine-readable (tokens, addresses,
/// the bench's Markdown); see [`log_level`] for how much.
fn init_tracing(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    let default = log_level(&cli.command, cli.verbose);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only on a terminal: a redirected log (a file, journald,
    // a pipe) gets plain text.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if cli.log_json {
        builder.json().init();
    } else if matches!(&cli.command, cli::Command::Serve(args) if args.dev) {
        // `serve --dev` is read by a person: no module paths.
        builder.with_target(false).init();
    } else {
        builder.init();
    }
}

/// The log level without `RUST_LOG`: warnings only (the SDK's and the
/// in-process server's INFO lines would land between `bench`'s progress bar
/// and its Markdown, and between the demo's lines), except for `serve`,
/// which is a server and logs at info; each `-v` is one level more.
fn log_level(command: &cli::Command, verbose: u8) -> &'static str {
    const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
    let base = match command {
        cli::Command::Serve(_) => 2,
        _ => 1,
    };
    LEVELS[(base + usize::from(verbose)).min(LEVELS.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(args: &[&str]) -> &'static str {
        let cli = cli::Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        log_level(&cli.command, cli.verbose)
    }

    #[test]
    fn quiet_by_default_and_louder_with_each_v() {
        assert_eq!(level(&["webex", "demo"]), "warn");
        assert_eq!(level(&["webex", "demo", "-v"]), "info");
        assert_eq!(level(&["webex", "-vv", "demo"]), "debug");
        assert_eq!(level(&["webex", "demo", "-vvvvvv"]), "trace");
        assert_eq!(level(&["webex", "serve"]), "info");
        assert_eq!(level(&["webex", "serve", "-v"]), "debug");
    }

    #[cfg(feature = "bench")]
    #[test]
    fn bench_is_quiet_too() {
        assert_eq!(level(&["webex", "bench", "smoke"]), "warn");
        assert_eq!(level(&["webex", "bench", "-v", "smoke"]), "info");
    }
}
