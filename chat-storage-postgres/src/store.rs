//! [`PgStore`]: the pool, the start-up (migrations), and how calls run: each call takes a
//! pooled connection, runs its statements (in one transaction when it writes more than one
//! row), and is run again a few times when PostgreSQL rolled it back for a deadlock or a
//! serialization failure.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chat_core::store::{ChatStore, StoreCapabilities, StoreResult};
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::config::PgConfig;
use crate::error::{PgError, PgResult};
use crate::migrate;

/// Pause before the first re-run of a transaction; doubles each time.
const RETRY_BASE_DELAY: Duration = Duration::from_millis(5);

/// The PostgreSQL store. Cheap to clone (an `Arc`); every clone shares the pool. Several
/// stores (nodes) may share one schema: every rule of the storage traits holds across them.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: PgConfig,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool.status())
            .finish()
    }
}

impl PgStore {
    /// Builds the pool, creates the schema when missing and applies the pending migrations
    /// (safe when several nodes start at once).
    ///
    /// Errors: [`PgError::Config`] for unusable settings; connection errors (the server is
    /// down or refuses the credentials); [`PgError::Unaccent`] when the extension is missing
    /// and cannot be created; [`PgError::SchemaTooNew`]; [`PgError::Migration`].
    pub async fn connect(config: PgConfig) -> PgResult<Self> {
        config.validate()?;
        let manager = Manager::from_config(
            config.pg_config()?,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.wait_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| PgError::Config(format!("the pool cannot be built: {e}")))?;
        let mut client = pool.get().await?;
        migrate::migrate(&mut client, &config.schema, &config.unaccent_schema).await?;
        drop(client);
        tracing::debug!(url = %config.redacted_url(), schema = %config.schema, "postgres store connected");
        Ok(Self {
            inner: Arc::new(Inner { pool, config }),
        })
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &PgConfig {
        &self.inner.config
    }

    /// The schema version of the database.
    ///
    /// Errors: connection and query errors.
    pub async fn schema_version(&self) -> PgResult<i64> {
        let client = self.client().await?;
        migrate::schema_version(&client, &self.inner.config.schema).await
    }

    /// Closes the pool: later calls fail with `Unavailable`; connections in use close when
    /// they come back.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// Drops the configured schema with everything in it (`DROP SCHEMA ... CASCADE`): for
    /// tests and benchmarks that use a throw-away schema. Stores on it stop working.
    ///
    /// Errors: [`PgError::Config`]; connection and query errors.
    pub async fn drop_schema(config: &PgConfig) -> PgResult<()> {
        config.validate()?;
        let (client, connection) = config.pg_config()?.connect(NoTls).await?;
        let driver = tokio::spawn(connection);
        // The schema is a checked identifier (see `PgConfig::validate`).
        let result = client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                config.schema
            ))
            .await;
        drop(client);
        // The connection ends once the client is gone; its own error does not matter here.
        let _ = driver.await;
        Ok(result?)
    }

    /// [`Self::drop_schema`] from synchronous code (a `Drop` of a test or benchmark guard, inside
    /// or outside a runtime): runs it on a thread of its own with a small runtime and waits.
    ///
    /// Errors: as [`Self::drop_schema`]; [`PgError::Config`] when the thread cannot run it.
    pub fn drop_schema_blocking(config: &PgConfig) -> PgResult<()> {
        let config = config.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| PgError::Config(format!("no runtime to drop the schema: {e}")))?
                .block_on(Self::drop_schema(&config))
        })
        .join()
        .map_err(|_| PgError::Config("the schema-dropping thread panicked".into()))?
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> PgResult<Client> {
        Ok(self.inner.pool.get().await?)
    }

    /// Runs `attempt` (one transaction), again after a deadlock or serialization failure, up
    /// to `max_retries` more times; maps the error onto the storage boundary.
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = PgResult<T>>,
    {
        let mut delay = RETRY_BASE_DELAY;
        let mut retries = 0;
        loop {
            match attempt().await {
                Err(err) if err.is_transient() && retries < self.inner.config.max_retries => {
                    retries += 1;
                    tracing::debug!(%err, retries, "postgres transaction rolled back; running it again");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                other => return other.map_err(Into::into),
            }
        }
    }
}

impl ChatStore for PgStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::new(true, true, true)
    }
}
