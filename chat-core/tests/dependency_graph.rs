//! chat-core must stay free of web frameworks, database drivers and HTTP clients when its
//! optional features are off (DESIGN section 2), and free of servers and drivers always.
#![allow(clippy::expect_used)] // test support: a failed step fails the test

use std::process::Command;

fn tree(default_features: bool) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "tree",
        "--offline",
        "-p",
        "chat-core",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if !default_features {
        cmd.arg("--no-default-features");
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn assert_absent(packages: &[String], forbidden: &[&str]) {
    for name in forbidden {
        assert!(
            !packages.iter().any(|p| p == name),
            "chat-core pulls {name}"
        );
    }
}

#[test]
fn lean_core_pulls_no_driver_server_or_http_client() {
    let packages = tree(false);
    assert!(
        packages.iter().any(|p| p == "chat-core"),
        "the tree lists chat-core itself: {packages:?}"
    );
    assert!(
        packages.iter().any(|p| p == "tokio"),
        "the tree lists real dependencies: {packages:?}"
    );
    assert_absent(
        &packages,
        &[
            "rusqlite",
            "tokio-postgres",
            "axum",
            "reqwest",
            "hyper",
            "scraper",
            "pdf-extract",
            "calamine",
        ],
    );
}

#[test]
fn default_core_pulls_no_driver_or_server() {
    let packages = tree(true);
    assert_absent(
        &packages,
        &[
            "rusqlite",
            "tokio-postgres",
            "deadpool-postgres",
            "axum",
            "socketioxide",
            // JavaScript rendering is opt-in (feature `js-render`).
            "chromiumoxide",
        ],
    );
}
