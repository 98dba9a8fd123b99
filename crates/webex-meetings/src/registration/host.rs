//! The SDK side of the Mercury client: tokens and device re-registration.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use secrecy::SecretString;

use super::steps;
use crate::core::Core;
use crate::error::Error;
use crate::mercury::{HostError, MercuryHost};

/// Gives Mercury access to tokens and WDM without keeping the SDK alive.
pub(crate) struct Host {
    pub(crate) core: Weak<Core>,
}

impl Host {
    fn core(&self) -> Result<Arc<Core>, HostError> {
        self.core.upgrade().ok_or_else(|| HostError {
            message: "the Webex instance was dropped; the connection is no longer needed".into(),
            retryable: false,
        })
    }
}

fn host_error(e: impl Into<Error>) -> HostError {
    let e = e.into();
    HostError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
}

#[async_trait]
impl MercuryHost for Host {
    async fn access_token(&self) -> Result<SecretString, HostError> {
        let core = self.core()?;
        Ok(core.http.tokens.current().await.map_err(host_error)?.token)
    }

    async fn refresh_access_token(&self) -> Result<SecretString, HostError> {
        let core = self.core()?;
        let tokens = &core.http.tokens;
        Ok(tokens
            .refresh(tokens.generation())
            .await
            .map_err(host_error)?
            .token)
    }

    async fn reregister_device(&self) -> Result<String, HostError> {
        let core = self.core()?;
        let Some(current) = core.current_device() else {
            return Err(HostError {
                message: "no device is registered to re-register; call register() first".into(),
                retryable: false,
            });
        };
        let mut warnings = Vec::new();
        let (device, _) = steps::put_or_post(
            &core.http,
            &current.wdm,
            Some(&current.device),
            &steps::device_body(&core),
            &mut warnings,
        )
        .await
        .map_err(host_error)?;
        let url = device.web_socket_url.clone();
        core.adopt_device(&current.key, device).await;
        Ok(url)
    }
}
