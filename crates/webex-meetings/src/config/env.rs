//! [`WebexConfig::from_env`]: a configuration from `WEBEX_*` environment
//! variables, for examples, bots and quick tries.

use super::{ConfigError, WebexConfig, WebexConfigBuilder};
use crate::credentials::Credentials;
use crate::error::Error;

/// The access token (required).
pub(crate) const ENV_ACCESS_TOKEN: &str = "WEBEX_ACCESS_TOKEN";
/// The discovery URL (optional; Webex's cloud when unset).
pub(crate) const ENV_DISCOVERY_URL: &str = "WEBEX_DISCOVERY_URL";
/// The device name (optional).
pub(crate) const ENV_DEVICE_NAME: &str = "WEBEX_DEVICE_NAME";

impl WebexConfig {
    /// A configuration from the environment: `WEBEX_ACCESS_TOKEN`
    /// (required), `WEBEX_DISCOVERY_URL` and `WEBEX_DEVICE_NAME` (optional).
    /// A missing or empty token is [`ConfigError::MissingEnvironment`],
    /// which names the variable. Does no I/O beyond reading the variables.
    ///
    /// ```
    /// use webex_meetings::{ConfigError, Error, WebexConfig};
    ///
    /// match WebexConfig::from_env() {
    ///     Ok(config) => println!("device {}", config.device_name()),
    ///     Err(Error::Config(ConfigError::MissingEnvironment { variable })) => {
    ///         eprintln!("set {variable} first");
    ///     }
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    pub fn from_env() -> Result<WebexConfig, Error> {
        Ok(WebexConfigBuilder::from_env()?.build()?)
    }
}

impl WebexConfigBuilder {
    /// A builder from the environment, as [`WebexConfig::from_env`] reads
    /// it, for options the environment does not hold.
    ///
    /// ```no_run
    /// use webex_meetings::WebexConfigBuilder;
    ///
    /// let config = WebexConfigBuilder::from_env()?.device_name("my-bot").build()?;
    /// # Ok::<(), webex_meetings::Error>(())
    /// ```
    pub fn from_env() -> Result<WebexConfigBuilder, ConfigError> {
        from_lookup(|name| std::env::var(name).ok())
    }
}

/// The builder from `lookup` (the environment, or a map in tests).
fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<WebexConfigBuilder, ConfigError> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let token = set(ENV_ACCESS_TOKEN).ok_or(ConfigError::MissingEnvironment {
        variable: ENV_ACCESS_TOKEN,
    })?;
    let mut builder = WebexConfig::builder(Credentials::access_token(token));
    if let Some(url) = set(ENV_DISCOVERY_URL) {
        builder = builder.discovery_url(url);
    }
    if let Some(name) = set(ENV_DEVICE_NAME) {
        builder = builder.device_name(name);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigOption;

    #[test]
    fn reads_the_three_variables() {
        let env = |name: &str| match name {
            ENV_ACCESS_TOKEN => Some("tok_PF84_org".to_owned()),
            ENV_DISCOVERY_URL => Some("http://127.0.0.1:8080/u2c/api/v1".to_owned()),
            ENV_DEVICE_NAME => Some("bot".to_owned()),
            _ => None,
        };
        let config = from_lookup(env).expect("builder").build().expect("config");
        assert_eq!(config.device_name(), "bot");
        assert_eq!(
            config.discovery_url().as_str(),
            "http://127.0.0.1:8080/u2c/api/v1"
        );
    }

    #[test]
    fn a_missing_or_blank_token_names_the_variable() {
        for token in [None, Some(" ".to_owned())] {
            let e = from_lookup(|name| (name == ENV_ACCESS_TOKEN).then(|| token.clone()).flatten())
                .err()
                .expect("refused");
            assert_eq!(
                e,
                ConfigError::MissingEnvironment {
                    variable: ENV_ACCESS_TOKEN
                }
            );
            assert_eq!(e.option(), ConfigOption::Credentials);
            assert!(e.to_string().contains("WEBEX_ACCESS_TOKEN"), "{e}");
        }
    }
}
