//! The `webex` command: run the server, mint tokens, register devices, demo,
//! benchmarks.

mod cli;
mod client;
mod demo;
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
            std::process::ExitCode::FAILURE
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
        cli::Command::Demo(args) => demo::run(args).await,
        cli::Command::Bench(args) => {
            println!("{}", webex_bench::run(args).await?);
            Ok(())
        }
    }
}

/// Logs go to stderr so stdout stays machine-readable (tokens, addresses).
fn init_tracing(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match (&cli.command, cli.verbose) {
        (_, true) => "debug",
        // The demo's output is its own lines; server logs only when asked.
        (cli::Command::Demo(_), false) => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
