//! Integration tests: one binary (linking the app once), a module per
//! capability. Each test runs as two, `…::sqlite` and `…::postgres`
//! (`support::backend_test!`).
//!
//! Every `.rs` file in this folder is a module of the binary
//! (`automod::dir!`): a new capability's test file needs no line here.

automod::dir!("tests/app");

/// Cargo rebuilds this binary when a file it compiled changes, not when a
/// file appears: a test file added with nothing else changed would not
/// run, silently. This fails instead, naming the file.
#[test]
fn every_test_file_here_is_compiled_in() {
    let listed = std::process::Command::new(std::env::current_exe().expect("this binary"))
        .arg("--list")
        .output()
        .expect("list this binary's tests");
    let listed = String::from_utf8_lossy(&listed.stdout);
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app");
    let mut checked = 0;
    for entry in std::fs::read_dir(&folder).expect("read tests/app") {
        let path = entry.expect("an entry").path();
        let Some(module) = path.file_stem().and_then(|stem| stem.to_str()) else {
            continue;
        };
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        let has_tests = source.lines().any(|line| {
            ["#[test]", "#[tokio::test]", "backend_test!("]
                .iter()
                .any(|marker| line.starts_with(marker))
        });
        if path.extension().is_none_or(|ext| ext != "rs") || module == "main" || !has_tests {
            continue;
        }
        assert!(
            listed
                .lines()
                .any(|line| line.starts_with(&format!("{module}::"))),
            "tests/app/{module}.rs is not in this build: cargo did not see the new file; \
             touch tests/app/main.rs and run the tests again"
        );
        checked += 1;
    }
    assert!(checked > 10, "found the test files ({checked})");
}
