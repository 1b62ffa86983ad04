//! The extraction worker: a separate process for parsers that cannot be bounded in-process.
//!
//! The host starts the configured program (for example `extract --worker`), sets its CPU-time,
//! address-space and core-dump limits on the child's pid (`prlimit`, Linux), writes one JSON
//! header line and the file's bytes to its stdin, and reads one JSON result from its stdout.
//! The worker ([`run_worker`]) also sets those limits on itself before it reads the file, so
//! the limits hold on every Unix. A worker that runs past the wall-clock limit is killed; one
//! that dies (out of memory, stack overflow, CPU limit) becomes a clear error, never a crash
//! of the host. `pdftotext` runs the same way, as a child under the same limits.
//!
//! No `unsafe` here: the limits are set through the `rlimit` crate's safe wrappers, by the
//! host on the child's pid and by the worker on itself, so no `pre_exec` hook is needed.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::extract::extract_in_process;
use super::extraction::{Budget, Extraction};
use super::{FileType, IngestConfig, IngestError, WireError, WorkerConfig};

/// Longest header line the worker reads.
const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// Most stderr kept from a child (for the cause of a crash).
const MAX_STDERR_BYTES: usize = 16 * 1024;
/// Time given to a child on top of the extraction limit (start-up, writing the result).
const WALL_CLOCK_GRACE: Duration = Duration::from_secs(2);

/// The first line a worker reads.
#[derive(Debug, Serialize, Deserialize)]
struct WorkerRequest {
    file_type: FileType,
    len: u64,
    config: IngestConfig,
}

/// What a worker writes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WorkerResponse {
    Ok(Extraction),
    Error(WireError),
}

/// The worker's entry point: reads a request from stdin, limits its own resources, extracts
/// in-process (with panic isolation) and writes the result as JSON to stdout. Call it from
/// the program configured as [`WorkerConfig::program`], for example when it is started with
/// `--worker`, and exit with the returned code.
pub fn run_worker() -> ExitCode {
    let response = match serve(&mut io::stdin().lock()) {
        Ok(extraction) => WorkerResponse::Ok(extraction),
        Err(err) => WorkerResponse::Error(err.to_wire()),
    };
    let mut stdout = io::stdout().lock();
    let written = serde_json::to_writer(&mut stdout, &response).is_ok() && stdout.flush().is_ok();
    if written {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn serve(input: &mut impl BufRead) -> Result<Extraction, IngestError> {
    let mut header = Vec::new();
    input
        .take(MAX_HEADER_BYTES)
        .read_until(b'\n', &mut header)
        .map_err(|err| {
            IngestError::InvalidInput(format!("cannot read the worker request: {err}"))
        })?;
    let request: WorkerRequest = serde_json::from_slice(&header)
        .map_err(|err| IngestError::InvalidInput(format!("bad worker request: {err}")))?;
    let config = request.config;
    limit_self(&config);
    if request.len > config.max_upload_bytes {
        return Err(IngestError::too_large(format!(
            "the file has {} bytes",
            request.len
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(request.len).unwrap_or(0));
    input
        .take(request.len)
        .read_to_end(&mut bytes)
        .map_err(|err| IngestError::InvalidInput(format!("cannot read the file: {err}")))?;
    extract_in_process(&bytes, request.file_type, &config)
}

/// CPU seconds allowed: the wall-clock limit, rounded up.
fn cpu_seconds(config: &IngestConfig) -> u64 {
    config.extraction_timeout.as_secs().saturating_add(1)
}

/// The limits of a worker: address space, CPU time (soft, hard) and no core dumps.
#[cfg(unix)]
fn worker_limits(config: &IngestConfig) -> [(rlimit::Resource, u64, u64); 3] {
    use rlimit::Resource;
    let cpu = cpu_seconds(config);
    [
        (
            Resource::AS,
            config.worker_memory_bytes,
            config.worker_memory_bytes,
        ),
        (Resource::CPU, cpu, cpu.saturating_add(1)),
        (Resource::CORE, 0, 0),
    ]
}

#[cfg(unix)]
fn limit_self(config: &IngestConfig) {
    for (resource, soft, hard) in worker_limits(config) {
        // Never above the hard limit already in force (that would fail with EPERM).
        let current_hard = resource.get().map_or(rlimit::INFINITY, |(_, h)| h);
        if let Err(err) = resource.set(soft.min(current_hard), hard.min(current_hard)) {
            tracing::warn!(error = %err, ?resource, "the worker cannot limit itself");
        }
    }
}

#[cfg(not(unix))]
fn limit_self(_config: &IngestConfig) {}

/// Sets the worker limits on a child by pid (Linux), before it reads its input.
#[cfg(target_os = "linux")]
fn limit_child(pid: Option<u32>, config: &IngestConfig) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    for (resource, soft, hard) in worker_limits(config) {
        if let Err(err) = rlimit::prlimit(pid, resource, Some((soft, hard)), None) {
            tracing::warn!(error = %err, ?resource, "cannot limit the extraction child");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn limit_child(_pid: Option<u32>, _config: &IngestConfig) {}

/// What a limited child produced.
struct ChildOutput {
    stdout: Vec<u8>,
    stderr: String,
    status: std::process::ExitStatus,
}

/// Runs `program args` with the worker limits, feeding `header` and `input` on stdin; kills it
/// past the wall-clock limit.
async fn run_limited(
    program: &Path,
    args: &[String],
    header: &[u8],
    input: &[u8],
    config: &IngestConfig,
) -> Result<ChildOutput, IngestError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| {
            IngestError::Unavailable(format!(
                "the extraction program {} cannot start: {err}",
                program.display()
            ))
        })?;
    limit_child(child.id(), config);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(IngestError::Unavailable(
            "the extraction program has no pipes".into(),
        ));
    };
    let max_stdout = u64::try_from(config.max_text_bytes)
        .unwrap_or(u64::MAX)
        .saturating_mul(3)
        .saturating_add(1 << 20);
    let work = async {
        let feed = async {
            // A child that exits early closes its stdin; that is not our error.
            let _ = stdin.write_all(header).await;
            let _ = stdin.write_all(input).await;
            drop(stdin);
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            let mut limited = stdout.take(max_stdout.saturating_add(1));
            limited.read_to_end(&mut out).await
        };
        let read_err = async {
            let mut limited = stderr.take(u64::try_from(MAX_STDERR_BYTES).unwrap_or(u64::MAX));
            limited.read_to_end(&mut err).await
        };
        let ((), out_res, _) = tokio::join!(feed, read_out, read_err);
        out_res.map_err(|e| {
            IngestError::Unavailable(format!("cannot read the extraction output: {e}"))
        })?;
        if u64::try_from(out.len()).unwrap_or(u64::MAX) > max_stdout {
            return Err(IngestError::too_large(
                "the extracted text is over the limit",
            ));
        }
        let status = child.wait().await.map_err(|e| {
            IngestError::Unavailable(format!("cannot wait for the extraction program: {e}"))
        })?;
        Ok(ChildOutput {
            stdout: out,
            stderr: String::from_utf8_lossy(&err).into_owned(),
            status,
        })
    };
    match tokio::time::timeout(config.extraction_timeout + WALL_CLOCK_GRACE, work).await {
        Ok(result) => result,
        Err(_) => Err(IngestError::Timeout(format!(
            "extraction took longer than {} s and was stopped",
            config.extraction_timeout.as_secs_f64()
        ))),
    }
    // On timeout `child` is dropped here and killed (kill_on_drop).
}

/// Extracts a file in the worker process.
///
/// Errors: whatever the worker reports; `Timeout` (wall clock or CPU limit), `TooLarge`
/// (memory limit), `Corrupt` (the parser crashed), `Unavailable` (cannot start).
pub(crate) async fn extract_in_worker(
    worker: &WorkerConfig,
    bytes: &[u8],
    file_type: FileType,
    config: &IngestConfig,
) -> Result<Extraction, IngestError> {
    let request = WorkerRequest {
        file_type,
        len: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        config: config.clone(),
    };
    let mut header = serde_json::to_vec(&request).map_err(|err| {
        IngestError::Unavailable(format!("cannot encode the worker request: {err}"))
    })?;
    header.push(b'\n');
    let output = run_limited(&worker.program, &worker.args, &header, bytes, config).await?;
    match serde_json::from_slice::<WorkerResponse>(&output.stdout) {
        Ok(WorkerResponse::Ok(extraction)) => Ok(extraction),
        Ok(WorkerResponse::Error(err)) => Err(err.into()),
        Err(_) => Err(crash_error(&output, config)),
    }
}

/// Extracts a PDF with `pdftotext` under the worker limits.
///
/// Errors: `Encrypted`, `Corrupt`, `Timeout`, `TooLarge`, `Unavailable` (not installed).
pub(crate) async fn extract_with_pdftotext(
    program: &Path,
    bytes: &[u8],
    config: &IngestConfig,
) -> Result<Extraction, IngestError> {
    let args: Vec<String> = ["-q", "-enc", "UTF-8", "-eol", "unix", "-", "-"]
        .map(String::from)
        .to_vec();
    let output = run_limited(program, &args, &[], bytes, config).await?;
    if !output.status.success() {
        if output.status.code() == Some(1) {
            // pdftotext exits 1 when it cannot open the file; with -q it prints nothing, so
            // ask the file itself whether it is encrypted.
            if is_encrypted_pdf(bytes) {
                return Err(IngestError::Encrypted(
                    "the PDF is password-protected".into(),
                ));
            }
            return Err(IngestError::corrupt("the PDF cannot be read"));
        }
        if output.status.code() == Some(3) {
            // pdftotext's exit code for a permission error: the owner forbids copying text.
            return Err(IngestError::Encrypted(
                "the PDF's permissions forbid extracting its text".into(),
            ));
        }
        return Err(crash_error(&output, config));
    }
    let mut budget = Budget::new(config);
    super::pdf::from_pdftotext(&output.stdout, &mut budget)
}

/// An `/Encrypt` entry in the trailer marks an encrypted PDF.
fn is_encrypted_pdf(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// Explains a child that produced no result.
fn crash_error(output: &ChildOutput, config: &IngestConfig) -> IngestError {
    let stderr = output.stderr.to_ascii_lowercase();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        // SIGXCPU (soft CPU limit) or SIGKILL (hard CPU limit).
        if matches!(output.status.signal(), Some(24) | Some(9)) {
            return IngestError::Timeout(format!(
                "extraction used more than {} s of CPU time and was stopped",
                cpu_seconds(config)
            ));
        }
    }
    if stderr.contains("memory allocation of")
        || stderr.contains("out of memory")
        || stderr.contains("bad_alloc")
    {
        return IngestError::too_large(format!(
            "extracting this file needs more than the worker's memory limit of {} bytes",
            config.worker_memory_bytes
        ));
    }
    if stderr.contains("overflowed its stack") {
        return IngestError::corrupt("the parser overflowed its stack on this file");
    }
    IngestError::corrupt(format!(
        "the parser crashed on this file ({})",
        output.status
    ))
}
