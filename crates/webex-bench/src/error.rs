//! What can stop a benchmark.

/// Why a benchmark could not run or finish.
///
/// Every variant says whether running the same command again may help
/// ([`BenchError::is_retryable`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The server under test could not be started or did not come up.
    #[error("could not start the server under test: {0}")]
    ServerStart(String),
    /// Setting up fixtures (people, tokens, devices, databases) failed.
    #[error("setting up the benchmark failed: {0}")]
    Setup(String),
    /// An HTTP request the benchmark depends on failed outright.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// A Mercury websocket could not be opened or authenticated.
    #[error("websocket failed: {0}")]
    WebSocket(String),
    /// The server answered with a status the scenario does not expect.
    #[error("unexpected answer from {what}: HTTP {status}")]
    Status {
        /// Which request.
        what: &'static str,
        /// Its status.
        status: u16,
    },
    /// The process could not get the resources a scenario needs (file
    /// descriptors, source addresses).
    #[error("not enough resources: {0}")]
    Resources(String),
    /// A scenario did not finish within its bound.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A local I/O error (spawning the server, reading /proc).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The SDK failed to register or unregister.
    #[error("SDK error: {0}")]
    Sdk(String),
}

impl BenchError {
    /// Whether running the benchmark again may succeed (a transient
    /// failure) rather than fail the same way (a setup problem).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(_) | Self::WebSocket(_) | Self::Timeout(_) | Self::Status { .. } => true,
            Self::Sdk(_) => true,
            Self::ServerStart(_) | Self::Setup(_) | Self::Resources(_) | Self::Io(_) => false,
        }
    }
}

/// Result of a benchmark step.
pub type BenchResult<T> = Result<T, BenchError>;
