//! The assembled server: the SQLite store, the engine (AI provider, document upload, URL
//! ingest), the seeded knowledge base, the adapter's API v1 router, the page and the
//! development login.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use chat_core::ingest::documents::{FsBlobStore, IngestConfig, WorkerConfig};
use chat_core::{ChatEngine, ChatError, TenantId};
use chat_http_adapter::{
    AdapterConfig, AuthError, Authenticator, DevAuthenticator, JwtAuthenticator, Shutdown,
};
use chat_storage_sqlite::{SqliteConfig, SqliteError, SqliteStore};

use crate::ai::AiChoice;
use crate::seed::{KnowledgeSeed, SeedError, SeedOutcome, seed_if_empty};
use crate::{Args, dev_login, page};

/// The argument that turns this binary into the document extraction worker (a child process
/// with CPU, memory and time limits, for the parsers that cannot be bounded in-process).
pub const EXTRACT_WORKER_ARG: &str = "--extract-worker";
/// Folder of uploaded files, next to the database.
pub const BLOBS_DIR: &str = "blobs";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The tenant name was refused.
    #[error("--tenant: {0}")]
    Tenant(#[from] chat_core::ids::InvalidId),
    /// The database folder could not be created.
    #[error("cannot create {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database {path}: {source}")]
    Store {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: SqliteError,
    },
    /// `--dev-auth=false` without a JWT secret, or a secret the JWT library refused.
    #[error("authentication: {0}")]
    Auth(String),
    /// The engine refused its configuration.
    #[error("engine: {0}")]
    Engine(#[from] ChatError),
    /// The knowledge base could not be seeded.
    #[error(transparent)]
    Seed(#[from] SeedError),
}

impl From<AuthError> for StartError {
    fn from(err: AuthError) -> Self {
        Self::Auth(err.to_string())
    }
}

/// A built server, ready to serve.
#[derive(Debug)]
pub struct Portal {
    /// The engine.
    pub engine: ChatEngine,
    /// Every route: API v1, the page, and the development login when enabled.
    pub router: Router,
    /// Triggers and waits for the graceful shutdown.
    pub shutdown: Shutdown,
    /// The store, closed after the server stops so the last writes are flushed.
    pub store: Arc<SqliteStore>,
    /// What happened to the knowledge base at start.
    pub seed: Option<SeedOutcome>,
}

/// Builds the server from its arguments and AI choice.
///
/// Errors: see [`StartError`].
pub async fn build(args: &Args, ai: &AiChoice) -> Result<Portal, StartError> {
    let tenant = TenantId::new(args.tenant.clone())?;
    let data_dir = data_dir(&args.db);
    std::fs::create_dir_all(&data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    let store = Arc::new(
        SqliteStore::open(SqliteConfig::new(&args.db))
            .await
            .map_err(|source| StartError::Store {
                path: args.db.clone(),
                source,
            })?,
    );

    let authenticator: Arc<dyn Authenticator> = if args.dev_auth {
        Arc::new(DevAuthenticator::new(tenant.clone()))
    } else {
        let secret = args.jwt_secret.as_deref().unwrap_or_default();
        if secret.is_empty() {
            return Err(StartError::Auth(
                "--dev-auth=false needs --jwt-secret (or PORTAL_JWT_SECRET)".into(),
            ));
        }
        Arc::new(JwtAuthenticator::hs256(
            secret.as_bytes(),
            &args.jwt_audience,
        )?)
    };
    let config = AdapterConfig::new(authenticator);

    let mut builder = ChatEngine::builder().store(store.clone()).documents(
        Arc::new(FsBlobStore::new(data_dir.join(BLOBS_DIR))),
        ingest_config(),
    );
    if let Some(provider) = &ai.provider {
        builder = builder.provider(config.metrics().instrument(Arc::clone(provider)));
    }
    // URL ingest: the engine makes its default ingestor (SSRF guard, robots.txt, cache) over
    // the store and bus on first use.
    let engine = builder.build()?;

    let seed = if args.no_seed {
        None
    } else {
        Some(seed_if_empty(&engine, &tenant, &KnowledgeSeed::tasklane()?).await?)
    };

    let shutdown = config.shutdown().clone();
    let mut router = chat_http_adapter::router(engine.clone(), config).merge(page::routes());
    if args.dev_auth {
        router = router.merge(dev_login::routes());
    }
    Ok(Portal {
        engine,
        router,
        shutdown,
        store,
        seed,
    })
}

/// The folder holding the database (and the uploaded files).
fn data_dir(db: &Path) -> PathBuf {
    match db.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Document ingest with the default limits; PDF, XLS and ODS are extracted by this same
/// binary started with [`EXTRACT_WORKER_ARG`]. When the binary's path is unknown, those
/// formats are refused with a clear error instead.
fn ingest_config() -> IngestConfig {
    let config = IngestConfig::default();
    match std::env::current_exe() {
        Ok(exe) => config.worker(WorkerConfig::new(exe, [EXTRACT_WORKER_ARG])),
        Err(err) => {
            tracing::warn!(error = %err, "cannot find this executable: PDF, XLS and ODS uploads are disabled");
            config
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_dir_is_the_database_folder() {
        assert_eq!(
            data_dir(Path::new("./chat-data/x.db")),
            PathBuf::from("./chat-data")
        );
        assert_eq!(data_dir(Path::new("x.db")), PathBuf::from("."));
    }
}
