//! Configuration of the PostgreSQL store.
//!
//! | setting | default | what it bounds |
//! |---|---|---|
//! | `url` | (required) | the server, database, user and password (`postgres://...` or `key=value` form) |
//! | `schema` | [`DEFAULT_SCHEMA`] (`chat`) | the schema holding the tables; set as each connection's `search_path` |
//! | `pool_size` | [`DEFAULT_POOL_SIZE`] (16) | connections one store (one node) opens at most |
//! | `connect_timeout` | [`DEFAULT_CONNECT_TIMEOUT`] (5 s) | opening one connection |
//! | `wait_timeout` | [`DEFAULT_WAIT_TIMEOUT`] (5 s) | waiting for a free pooled connection before `Unavailable` |
//! | `statement_timeout` | [`DEFAULT_STATEMENT_TIMEOUT`] (30 s) | one statement on the server; `None` leaves the server's setting |
//! | `max_retries` | [`DEFAULT_MAX_RETRIES`] (3) | re-runs of a transaction after a deadlock or serialization failure |
//! | `application_name` | [`DEFAULT_APPLICATION_NAME`] | the name the connections show in `pg_stat_activity` |
//! | `unaccent_schema` | [`DEFAULT_UNACCENT_SCHEMA`] (`public`) | where the `unaccent` extension is created when the database lacks it |
//!
//! `PgConfig::from_str` reads a URL; the store's own settings ride along as query parameters
//! (`schema`, `pool_size`, `wait_timeout`, `statement_timeout`, `max_retries`, timeouts in
//! seconds) and everything else goes to tokio-postgres, which knows the standard ones
//! (`connect_timeout`, `application_name`, `sslmode`, ...).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{PgError, PgResult};

/// Default schema.
pub const DEFAULT_SCHEMA: &str = "chat";
/// Default pool size.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Largest accepted pool size (PostgreSQL's default `max_connections` is 100 for all nodes).
pub const MAX_POOL_SIZE: usize = 256;
/// Default time to open one connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time to wait for a pooled connection.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default server-side statement timeout.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default re-runs of a transaction that hit a deadlock or serialization failure.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Largest accepted `max_retries`.
pub const MAX_RETRIES: u32 = 20;
/// Default `application_name` of the store's connections.
pub const DEFAULT_APPLICATION_NAME: &str = "chat-engine";
/// Default schema of the `unaccent` extension when the store has to create it.
pub const DEFAULT_UNACCENT_SCHEMA: &str = "public";
/// Longest schema name (PostgreSQL's identifier limit).
pub const MAX_SCHEMA_NAME: usize = 63;

/// Settings of [`crate::PgStore`] and [`crate::PgEventBus`]; see the module docs for the
/// defaults. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PgConfig {
    /// Connection string: a `postgres://` URL or the `key=value` form tokio-postgres reads.
    pub url: String,
    /// Schema of the tables (lowercase letters, digits and `_`, starting with a letter or `_`).
    pub schema: String,
    /// Largest number of pooled connections.
    pub pool_size: usize,
    /// Time to open one connection.
    pub connect_timeout: Duration,
    /// Time to wait for a pooled connection.
    pub wait_timeout: Duration,
    /// Server-side statement timeout (`None`: the server's own setting).
    pub statement_timeout: Option<Duration>,
    /// Re-runs of a transaction after a deadlock or serialization failure.
    pub max_retries: u32,
    /// `application_name` of the pooled connections.
    pub application_name: String,
    /// Schema in which `unaccent` is created when missing.
    pub unaccent_schema: String,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self::new("")
    }
}

impl PgConfig {
    /// A configuration for this connection string, with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            max_retries: DEFAULT_MAX_RETRIES,
            application_name: DEFAULT_APPLICATION_NAME.to_owned(),
            unaccent_schema: DEFAULT_UNACCENT_SCHEMA.to_owned(),
        }
    }

    /// Sets the schema.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets the pool size (1..=[`MAX_POOL_SIZE`]).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the pool wait timeout.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Sets the statement timeout (`None`: the server's setting).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Sets the retries after deadlocks and serialization failures (0..=[`MAX_RETRIES`]).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the `application_name` of the pooled connections.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Sets the schema where `unaccent` is created when the database lacks it.
    pub fn unaccent_schema(mut self, schema: impl Into<String>) -> Self {
        self.unaccent_schema = schema.into();
        self
    }

    /// Checks the settings.
    ///
    /// Errors: [`PgError::Config`] naming the bad setting.
    pub fn validate(&self) -> PgResult<()> {
        check_identifier("schema", &self.schema)?;
        check_identifier("unaccent_schema", &self.unaccent_schema)?;
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(PgError::Config(format!(
                "pool_size must be in 1..={MAX_POOL_SIZE}, got {}",
                self.pool_size
            )));
        }
        if self.max_retries > MAX_RETRIES {
            return Err(PgError::Config(format!(
                "max_retries must be at most {MAX_RETRIES}, got {}",
                self.max_retries
            )));
        }
        if self.connect_timeout.is_zero() || self.wait_timeout.is_zero() {
            return Err(PgError::Config(
                "connect_timeout and wait_timeout must be above zero".into(),
            ));
        }
        if self.application_name.chars().any(char::is_control) {
            return Err(PgError::Config(
                "application_name holds control characters".into(),
            ));
        }
        self.pg_config().map(|_| ())
    }

    /// The tokio-postgres configuration of one connection: the URL's settings, the
    /// `search_path` of the schema, the statement timeout and the application name.
    pub(crate) fn pg_config(&self) -> PgResult<tokio_postgres::Config> {
        self.pg_config_named(&self.application_name)
    }

    /// Like [`Self::pg_config`] with another `application_name` (the bus's listener).
    pub(crate) fn pg_config_named(
        &self,
        application_name: &str,
    ) -> PgResult<tokio_postgres::Config> {
        if self.url.trim().is_empty() {
            return Err(PgError::Config("the connection URL is empty".into()));
        }
        let mut config = tokio_postgres::Config::from_str(&self.url)
            .map_err(|e| PgError::Config(format!("the connection URL does not parse: {e}")))?;
        // The schema is a checked identifier ([a-z_][a-z0-9_]*), so it needs no escaping here.
        let mut options = config.get_options().unwrap_or_default().to_owned();
        options.push_str(&format!(" -c search_path={}", self.schema));
        if let Some(timeout) = self.statement_timeout {
            options.push_str(&format!(" -c statement_timeout={}", timeout.as_millis()));
        }
        config
            .options(options.trim_start())
            .application_name(application_name)
            .connect_timeout(self.connect_timeout);
        Ok(config)
    }

    /// The URL with its password replaced, for logs and `Debug`.
    pub fn redacted_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut url) => {
                if url.password().is_some() {
                    // Only fails for URLs that cannot have a password, which this one has.
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) if self.url.contains("password") => "<connection string hidden>".to_owned(),
            Err(_) => self.url.clone(),
        }
    }
}

/// Checks a schema name: PostgreSQL identifier rules restricted to lowercase ASCII, so that
/// it is the same quoted or not and can go into `search_path` and DDL without escaping.
fn check_identifier(setting: &str, name: &str) -> PgResult<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > MAX_SCHEMA_NAME {
        return Err(PgError::Config(format!(
            "{setting} {name:?} must be 1 to {MAX_SCHEMA_NAME} lowercase letters, digits or '_', \
             not starting with a digit"
        )));
    }
    Ok(())
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("wait_timeout", &self.wait_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("max_retries", &self.max_retries)
            .field("application_name", &self.application_name)
            .field("unaccent_schema", &self.unaccent_schema)
            .finish()
    }
}

fn seconds(key: &str, value: &str) -> PgResult<Duration> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| PgError::Config(format!("{key} must be a number of seconds, got {value:?}")))
}

fn number<T: FromStr>(key: &str, value: &str) -> PgResult<T> {
    value
        .parse()
        .map_err(|_| PgError::Config(format!("{key} must be a whole number, got {value:?}")))
}

impl FromStr for PgConfig {
    type Err = PgError;

    /// Reads `postgres://user:password@host:port/db?schema=chat&pool_size=16&...`.
    fn from_str(s: &str) -> PgResult<Self> {
        let mut url = url::Url::parse(s)
            .map_err(|e| PgError::Config(format!("not a postgres:// URL: {e}")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(PgError::Config(format!(
                "the URL scheme must be postgres or postgresql, got {}",
                url.scheme()
            )));
        }
        let mut config = Self::new("");
        let mut rest: Vec<(String, String)> = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "schema" => config.schema = value.into_owned(),
                "pool_size" => config.pool_size = number(&key, &value)?,
                "max_retries" => config.max_retries = number(&key, &value)?,
                "wait_timeout" => config.wait_timeout = seconds(&key, &value)?,
                "statement_timeout" => {
                    let timeout = seconds(&key, &value)?;
                    config.statement_timeout = (!timeout.is_zero()).then_some(timeout);
                }
                "connect_timeout" => {
                    config.connect_timeout = seconds(&key, &value)?;
                    rest.push((key.into_owned(), value.into_owned()));
                }
                "application_name" => config.application_name = value.into_owned(),
                "unaccent_schema" => config.unaccent_schema = value.into_owned(),
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        if rest.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(rest);
        }
        config.url = url.to_string();
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_settings_are_read_and_the_rest_goes_to_tokio_postgres() {
        let config: PgConfig =
            "postgres://app:s3cret@db.internal:5433/chat?schema=tenant_a&pool_size=4&wait_timeout=1.5&statement_timeout=0&sslmode=disable"
                .parse()
                .unwrap();
        assert_eq!(config.schema, "tenant_a");
        assert_eq!(config.pool_size, 4);
        assert_eq!(config.wait_timeout, Duration::from_millis(1500));
        assert_eq!(config.statement_timeout, None);
        assert_eq!(
            config.url,
            "postgres://app:s3cret@db.internal:5433/chat?sslmode=disable"
        );
        let pg = config.pg_config().unwrap();
        assert_eq!(pg.get_dbname(), Some("chat"));
        assert_eq!(pg.get_options(), Some("-c search_path=tenant_a"));
        assert_eq!(pg.get_application_name(), Some(DEFAULT_APPLICATION_NAME));
    }

    #[test]
    fn debug_hides_the_password() {
        let config: PgConfig = "postgres://app:s3cret@localhost/db".parse().unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        let kv = PgConfig::new("host=localhost password=s3cret");
        assert!(!format!("{kv:?}").contains("s3cret"));
    }

    #[test]
    fn bad_settings_are_refused() {
        for bad in [
            "mysql://localhost/db",
            "postgres://localhost/db?schema=Bad-Name",
            "postgres://localhost/db?schema=1abc",
            "postgres://localhost/db?pool_size=0",
            "postgres://localhost/db?pool_size=lots",
            "postgres://localhost/db?wait_timeout=-1",
            "postgres://localhost/db?max_retries=99",
            "not a url",
        ] {
            assert!(bad.parse::<PgConfig>().is_err(), "{bad} was accepted");
        }
        let long = format!("postgres://localhost/db?schema={}", "a".repeat(64));
        assert!(long.parse::<PgConfig>().is_err());
        assert!(PgConfig::new("").validate().is_err());
        assert!(PgConfig::new("postgres://localhost/db").validate().is_ok());
    }
}
