//! The command line: every flag also reads an environment variable, so the demo runs the same
//! from a shell, a container or a systemd unit.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Default listen address: loopback only, so the demo is not reachable from the network unless
/// asked for.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default SQLite database (its folder is created at start).
pub const DEFAULT_DB: &str = "./chat-data/support-portal.db";
/// The one tenant of the demo.
pub const DEFAULT_TENANT: &str = "tasklane";

/// Which AI answers customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AiMode {
    /// The providers whose keys are set in the environment (OPENAI_*, ANTHROPIC_*, GEMINI_*), as
    /// a failover chain ending with the offline answerer; the offline answerer alone when no key
    /// is set.
    Auto,
    /// The offline extractive answerer only, even when keys are set.
    Offline,
    /// No AI: messages are stored and delivered but never answered (for load tests of the
    /// message path).
    None,
}

/// The support-portal server.
#[derive(Debug, Clone, Parser)]
#[command(name = "support-portal", version, about)]
#[non_exhaustive]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "PORTAL_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// SQLite database file; its folder is created when missing. Uploaded files are stored in a
    /// `blobs` folder next to it.
    #[arg(long, env = "PORTAL_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,

    /// Development login: `POST /api/v1/dev/login {"user_id","role"}` returns a token for any
    /// customer, agent or manager, unsigned. Never expose it to the internet. With
    /// `--dev-auth=false`, requests need an HS256 JWT signed with `--jwt-secret`.
    #[arg(
        long,
        env = "PORTAL_DEV_AUTH",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
    )]
    pub dev_auth: bool,

    /// HS256 secret of the JWTs accepted when `--dev-auth=false`.
    #[arg(long, env = "PORTAL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Audience (`aud`) the JWTs must carry when `--dev-auth=false`.
    #[arg(long, env = "PORTAL_JWT_AUDIENCE", default_value = "support-portal")]
    pub jwt_audience: String,

    /// Which AI answers customers.
    #[arg(long, env = "PORTAL_AI", value_enum, default_value_t = AiMode::Auto)]
    pub ai: AiMode,

    /// The tenant every demo user belongs to.
    #[arg(long, env = "PORTAL_TENANT", default_value = DEFAULT_TENANT)]
    pub tenant: String,

    /// Do not load the Tasklane knowledge base into an empty database.
    #[arg(long, env = "PORTAL_NO_SEED")]
    pub no_seed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_readme() {
        let args = Args::try_parse_from(["support-portal"]).unwrap();
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.db, PathBuf::from("./chat-data/support-portal.db"));
        assert!(args.dev_auth);
        assert_eq!(args.ai, AiMode::Auto);
        assert!(!args.no_seed);
    }

    #[test]
    fn dev_auth_can_be_turned_off_and_on() {
        let off = Args::try_parse_from(["support-portal", "--dev-auth=false"]).unwrap();
        assert!(!off.dev_auth);
        let on = Args::try_parse_from(["support-portal", "--dev-auth"]).unwrap();
        assert!(on.dev_auth);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Args::try_parse_from(["support-portal", "--listen", "nowhere"]).is_err());
        assert!(Args::try_parse_from(["support-portal", "--ai", "gpt"]).is_err());
        assert!(Args::try_parse_from(["support-portal", "--dev-auth=maybe"]).is_err());
    }
}
