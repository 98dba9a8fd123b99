//! People, tokens and devices the scenarios use: tokens are minted straight
//! into the store (as `webex token create` does), devices are registered
//! through the server's real WDM API.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use webex_server::identity::admin;
use webex_wire::device::{Device, DeviceRequest};
use webex_wire::people::PersonType;

use crate::error::{BenchError, BenchResult};

/// One person and one access token of theirs.
#[derive(Clone)]
pub struct Account {
    /// Their email (the admin API publishes to it).
    pub email: String,
    /// Their access token.
    pub token: SecretString,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// Creates `count` people `<prefix>-<i>@bench.example` with one
/// never-expiring token each, directly in the store at `database_url`.
pub async fn accounts(database_url: &str, prefix: &str, count: usize) -> BenchResult<Vec<Account>> {
    let store = webex_server::store::connect(database_url)
        .await
        .map_err(|e| BenchError::Setup(format!("opening the store: {e}")))?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let email = format!("{prefix}-{i}@bench.example");
        let token = admin::create_token(store.as_ref(), "PF84", &email, PersonType::Person, None)
            .await
            .map_err(|e| BenchError::Setup(format!("minting a token: {e}")))?;
        out.push(Account { email, token });
    }
    store.close().await;
    Ok(out)
}

/// An HTTP client for load: keeps many idle connections, no proxy, no delay.
pub fn http_client(max_idle: usize) -> BenchResult<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// `POST /wdm/api/v1/devices` as `token`; the registered device.
pub async fn register_device(
    http: &reqwest::Client,
    base: &str,
    token: &SecretString,
    name: &str,
) -> BenchResult<Device> {
    let res = http
        .post(format!("{base}/wdm/api/v1/devices"))
        .bearer_auth(token.expose_secret())
        .json(&DeviceRequest::web_sdk(name))
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(BenchError::Status {
            what: "POST /wdm/api/v1/devices",
            status: res.status().as_u16(),
        });
    }
    Ok(res.json().await?)
}

/// `DELETE <device url>` as `token`.
pub async fn delete_device(
    http: &reqwest::Client,
    device_url: &str,
    token: &SecretString,
) -> BenchResult<()> {
    let res = http
        .delete(device_url)
        .bearer_auth(token.expose_secret())
        .send()
        .await?;
    if res.status().as_u16() != 204 {
        return Err(BenchError::Status {
            what: "DELETE /wdm/api/v1/devices/{id}",
            status: res.status().as_u16(),
        });
    }
    Ok(())
}

/// A device registered for a benchmark, with the token that owns it.
#[derive(Debug, Clone)]
pub struct BenchDevice {
    /// Index of the owner in the account list.
    pub owner: usize,
    /// The device's Mercury URL.
    pub web_socket_url: String,
}

/// Registers `count` devices spread round-robin over `accounts`, with up to
/// `concurrency` requests in flight; `progress` is called once per device.
pub async fn register_devices(
    http: &reqwest::Client,
    base: &str,
    accounts: &[Account],
    count: usize,
    concurrency: usize,
    progress: impl Fn() + Send + Sync,
) -> BenchResult<Vec<BenchDevice>> {
    if accounts.is_empty() {
        return Err(BenchError::Setup("no accounts to own the devices".into()));
    }
    let accounts: Arc<[Account]> = accounts.into();
    let progress = &progress;
    let results: Vec<BenchResult<BenchDevice>> = futures::stream::iter(0..count)
        .map(|i| {
            let accounts = Arc::clone(&accounts);
            async move {
                let owner = i % accounts.len();
                let device =
                    register_device(http, base, &accounts[owner].token, &format!("bench-{i}"))
                        .await?;
                progress();
                Ok(BenchDevice {
                    owner,
                    web_socket_url: device.web_socket_url,
                })
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}
