//! The `extract` command line: JSON lines per chunk, an error line per rejected file, the exit
//! code, and PDFs read through its own worker mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../chat-core/tests/fixtures/documents")
        .join(name)
}

fn run(args: &[&str]) -> (i32, Vec<Value>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_extract"))
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    (
        output.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn prints_chunks_with_locators_and_reads_pdfs_through_its_worker() {
    let pdf = fixture("report.pdf");
    let md = fixture("guide.md");
    let (code, lines, _) = run(&[pdf.to_str().unwrap(), md.to_str().unwrap()]);
    assert_eq!(code, 0);
    let pdf_chunk = lines
        .iter()
        .find(|l| l["text"].as_str().unwrap().contains("AMBERFALCON"))
        .unwrap();
    assert_eq!(pdf_chunk["file"], pdf.display().to_string());
    assert_eq!(pdf_chunk["locator"]["type"], "page");
    assert_eq!(pdf_chunk["chunk"], 0);
    let md_chunk = lines
        .iter()
        .find(|l| l["text"].as_str().unwrap().contains("YELLOWZEBU"))
        .unwrap();
    assert_eq!(
        md_chunk["locator"]["path"],
        serde_json::json!(["Admin Guide", "Setup", "Network"])
    );
}

#[test]
fn rejected_files_get_an_error_line_and_a_failing_exit_code() {
    let dir = std::env::temp_dir().join(format!("extract-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("page.txt");
    std::fs::write(&html, "<!DOCTYPE html><html><body>x</body></html>").unwrap();
    let notes = fixture("notes.txt");
    let encrypted = fixture("encrypted.pdf");
    let (code, lines, _) = run(&[
        html.to_str().unwrap(),
        notes.to_str().unwrap(),
        encrypted.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["code"], "unsupported_media_type");
    assert_eq!(lines[0]["file"], html.display().to_string());
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().is_some_and(|t| t.contains("UMBERVOLE")))
    );
    assert_eq!(lines.last().unwrap()["code"], "encrypted");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn scanned_pdf_warns_on_stderr_and_usage_errors_exit_2() {
    let scanned = fixture("scanned.pdf");
    let (code, lines, stderr) = run(&[scanned.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(lines.is_empty());
    assert!(stderr.contains("no text layer (scanned?)"), "{stderr}");
    let (code, _, _) = run(&[]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["--bogus", scanned.to_str().unwrap()]);
    assert_eq!(code, 2);
}
