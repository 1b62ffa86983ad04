//! `extract [OPTIONS] FILE...`: runs the document ingest pipeline (sniff, extract, chunk) on
//! files and prints, per file, one JSON line per chunk
//! (`{"file","chunk","text","locator"}`) or one JSON error line (`{"file","code","message"}`).
//! Warnings (such as a PDF without a text layer) go to stderr. Exits with 1 when a file was
//! rejected, 2 on a usage error.
//!
//! PDF, XLS and ODS are extracted in a worker process: this same program started with
//! `--worker` (which reads a request on stdin and answers on stdout).
//!
//! Options:
//! - `--worker`: run as the extraction worker;
//! - `--in-process`: extract every format in this process (trusted files only);
//! - `--pdftotext[=PATH]`: extract PDFs with poppler's pdftotext;
//! - `--target-tokens N`, `--overlap-tokens N`: chunk size and overlap;
//! - `--timeout SECS`: extraction time limit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chat_core::ingest::documents::{Extractor, IngestConfig, PdfBackend, WorkerConfig, worker};
use serde_json::json;

const USAGE: &str = "usage: extract [--in-process] [--pdftotext[=PATH]] [--target-tokens N] [--overlap-tokens N] \
                     [--timeout SECS] FILE...\n       extract --worker";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        return worker::run_worker();
    }
    let (config, files) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let rejected = runtime.block_on(run(Extractor::new(config), &files));
    if rejected {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse(args: &[String]) -> Result<(IngestConfig, Vec<PathBuf>), String> {
    let exe =
        std::env::current_exe().map_err(|err| format!("cannot find this program's path: {err}"))?;
    let mut config = IngestConfig::default().worker(WorkerConfig::new(exe, ["--worker"]));
    let mut files = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut number = |name: &str| -> Result<u32, String> {
            iter.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--in-process" => config = config.allow_in_process(true),
            "--pdftotext" => {
                config = config.pdf_backend(PdfBackend::Pdftotext {
                    program: "pdftotext".into(),
                })
            }
            "--target-tokens" => {
                let target = number("--target-tokens")?;
                config = config.clone().chunking(target, config.chunk_overlap_tokens);
            }
            "--overlap-tokens" => {
                let overlap = number("--overlap-tokens")?;
                config = config.clone().chunking(config.chunk_target_tokens, overlap);
            }
            "--timeout" => {
                config =
                    config.extraction_timeout(Duration::from_secs(u64::from(number("--timeout")?)))
            }
            "-h" | "--help" => return Err("extract: runs the document pipeline on files".into()),
            other if other.starts_with("--pdftotext=") => {
                let program = other.trim_start_matches("--pdftotext=");
                config = config.pdf_backend(PdfBackend::Pdftotext {
                    program: program.into(),
                });
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            file => files.push(PathBuf::from(file)),
        }
    }
    if files.is_empty() {
        return Err("no files given".into());
    }
    Ok((config, files))
}

/// Processes every file; returns whether any was rejected.
async fn run(extractor: Extractor, files: &[PathBuf]) -> bool {
    let mut rejected = false;
    for path in files {
        let file = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                print_line(
                    &json!({"file": file, "code": "unreadable", "message": err.to_string()}),
                );
                rejected = true;
                continue;
            }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes: Arc<[u8]> = bytes.into();
        match extractor.process(bytes, &name).await {
            Ok(processed) => {
                for warning in &processed.warnings {
                    eprintln!("{file}: warning: {warning}");
                }
                for (index, chunk) in processed.chunks.iter().enumerate() {
                    print_line(
                        &json!({"file": file, "chunk": index, "text": chunk.text, "locator": chunk.locator}),
                    );
                }
            }
            Err(err) => {
                print_line(&json!({"file": file, "code": err.code(), "message": err.to_string()}));
                rejected = true;
            }
        }
    }
    rejected
}

fn print_line(value: &serde_json::Value) {
    println!("{value}");
}
