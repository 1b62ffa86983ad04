//! The server side of the load generator: starting the support-portal binary (or attaching to
//! a running server), reading its memory and CPU time from `/proc`, and setting up the
//! sessions over REST with development-login tokens.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::BoxError;

/// Longest wait for a started server to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Chats one load-test agent holds. Each chat is one WebSocket connection of that agent, and
/// the adapter limits handshakes per principal like REST calls (burst 60), so agents are
/// many and small rather than few at the engine's largest capacity (100).
pub(crate) const AGENT_CAPACITY: usize = 10;
/// Assignment rounds started for sessions left queued after their escalation.
const ASSIGNMENT_ROUNDS: usize = 100;

/// The server under load.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) pid: u32,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `bin` on a free loopback port with a fresh database in a temporary folder, AI
    /// answering off and no seed, and waits until it answers `/healthz`.
    pub(crate) async fn start(bin: &Path) -> Result<Self, BoxError> {
        if !bin.is_file() {
            return Err(format!(
                "{} not found: build it first (cargo build --release -p support-portal) or pass --server-bin",
                bin.display()
            )
            .into());
        }
        let dir = tempfile::tempdir()?;
        // Ask the OS for a free port, then hand it to the server (a short race, fine on a test box).
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--db")
            .arg(dir.path().join("load.db"))
            .args(["--ai", "none", "--no-seed"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let server = Self {
            addr,
            pid,
            child: Some(child),
            _dir: Some(dir),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// A server someone else started.
    pub(crate) async fn attach(addr: SocketAddr, pid: u32) -> Result<Self, BoxError> {
        let server = Self {
            addr,
            pid,
            child: None,
            _dir: None,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> Result<(), BoxError> {
        let client = reqwest::Client::new();
        let url = format!("http://{}/healthz", self.addr);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server at {} did not become ready", self.addr).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident memory of the server in bytes (`VmRSS`).
    pub(crate) fn rss(&self) -> Result<u64, BoxError> {
        proc_status_kib(self.pid, "VmRSS:").map(|kib| kib * 1024)
    }

    /// Peak resident memory of the server in bytes (`VmHWM`).
    pub(crate) fn peak_rss(&self) -> Result<u64, BoxError> {
        proc_status_kib(self.pid, "VmHWM:").map(|kib| kib * 1024)
    }

    /// Stops a server this generator started.
    pub(crate) async fn stop(mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// A `kB` line of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, key: &str) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|err| format!("cannot read /proc/{pid}/status: {err}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status").into())
}

/// CPU time (user + system) of a process so far, from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: Option<u32>) -> Result<Duration, BoxError> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat =
        std::fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
    // Fields after the command name (which may hold spaces, so split after its closing paren):
    // state is field 3, utime field 14, stime field 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, BoxError> {
        Ok(fields.get(i).ok_or("short stat")?.parse::<u64>()?)
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks()))
}

/// The 1-, 5- and 15-minute load averages of the machine (`/proc/loadavg`), to tell a quiet
/// run from one that shared the cores with other work.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The support-portal binary next to this one (both live in the same target folder).
pub(crate) fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("support-portal")))
        .unwrap_or_else(|| PathBuf::from("support-portal"))
}

/// One participant's credentials.
#[derive(Debug, Clone)]
pub(crate) struct Participant {
    pub(crate) user_id: String,
    pub(crate) token: String,
}

/// One session and who talks in it.
#[derive(Debug, Clone)]
pub(crate) struct SessionPlan {
    pub(crate) id: String,
    pub(crate) participants: Vec<Participant>,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

#[derive(Deserialize)]
struct SessionBody {
    id: String,
    assigned_agent: Option<String>,
}

/// REST calls of the setup.
struct Rest {
    client: reqwest::Client,
    base: String,
}

impl Rest {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> Result<T, BoxError> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if !body.is_null() {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn login(&self, user_id: &str, role: &str) -> Result<Participant, BoxError> {
        let token: Token = self
            .call(
                reqwest::Method::POST,
                "/api/v1/dev/login",
                None,
                json!({"user_id": user_id, "role": role}),
            )
            .await?;
        Ok(Participant {
            user_id: user_id.to_owned(),
            token: token.token,
        })
    }
}

/// Creates `sessions` support sessions, one customer each. With `with_agents`, each one is
/// escalated and auto-assigned to one of ⌈sessions / 10⌉ online agents, who joins it as the
/// second participant (so the AI, even if on, never answers: the chats are in agent mode).
pub(crate) async fn set_up(
    addr: SocketAddr,
    sessions: usize,
    with_agents: bool,
    concurrency: usize,
) -> Result<Vec<SessionPlan>, BoxError> {
    let rest = Rest {
        client: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    let rest = &rest;
    let mut agents = std::collections::HashMap::new();
    if with_agents {
        for i in 0..sessions.div_ceil(AGENT_CAPACITY) {
            let agent = rest.login(&format!("lg-agent-{i}"), "agent").await?;
            let _: serde_json::Value = rest
                .call(
                    reqwest::Method::PUT,
                    "/api/v1/agents/me/availability",
                    Some(&agent.token),
                    json!({"availability": "online", "max_concurrent": AGENT_CAPACITY}),
                )
                .await?;
            agents.insert(agent.user_id.clone(), agent);
        }
    }
    let agents = &agents;
    let mut plans: Vec<(SessionPlan, Option<String>)> = stream::iter(0..sessions)
        .map(|i| async move {
            let customer = rest.login(&format!("lg-customer-{i}"), "customer").await?;
            let session: SessionBody = rest
                .call(
                    reqwest::Method::POST,
                    "/api/v1/sessions",
                    Some(&customer.token),
                    json!({"kind": "support", "title": format!("load {i}")}),
                )
                .await?;
            let assigned = if with_agents {
                let escalated: SessionBody = rest
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/sessions/{}/escalate", session.id),
                        Some(&customer.token),
                        json!({}),
                    )
                    .await?;
                escalated.assigned_agent
            } else {
                None
            };
            let plan = SessionPlan {
                id: session.id,
                participants: vec![customer],
            };
            Ok::<_, BoxError>((plan, assigned))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    if with_agents {
        assign_the_rest(rest, agents, &mut plans).await?;
        for (plan, assigned) in &mut plans {
            let agent_id = assigned.take().ok_or("a session stayed unassigned")?;
            let agent = agents
                .get(&agent_id)
                .ok_or_else(|| format!("assigned to an unknown agent {agent_id}"))?;
            plan.participants.push(agent.clone());
        }
    }
    Ok(plans.into_iter().map(|(plan, _)| plan).collect())
}

/// Sessions still queued after their escalation (an assignment round stops at its first
/// conflict, which concurrent escalations cause): an agent going online again starts a new
/// round; repeat until every session has its agent.
async fn assign_the_rest(
    rest: &Rest,
    agents: &std::collections::HashMap<String, Participant>,
    plans: &mut [(SessionPlan, Option<String>)],
) -> Result<(), BoxError> {
    let trigger = agents.values().next().ok_or("no agent")?;
    for _ in 0..ASSIGNMENT_ROUNDS {
        let waiting: Vec<usize> = (0..plans.len()).filter(|&i| plans[i].1.is_none()).collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let _: serde_json::Value = rest
            .call(
                reqwest::Method::PUT,
                "/api/v1/agents/me/availability",
                Some(&trigger.token),
                json!({"availability": "online"}),
            )
            .await?;
        for i in waiting {
            let (plan, assigned) = &mut plans[i];
            let current: SessionBody = rest
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/sessions/{}", plan.id),
                    Some(&plan.participants[0].token),
                    serde_json::Value::Null,
                )
                .await?;
            *assigned = current.assigned_agent;
        }
    }
    let left = plans.iter().filter(|(_, a)| a.is_none()).count();
    Err(format!("{left} sessions stayed unassigned (not enough agent capacity?)").into())
}
