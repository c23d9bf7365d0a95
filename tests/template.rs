//! The cargo-generate machinery (this file is template machinery too: the
//! post hook deletes it from generated apps).
//!
//! A few files must name the project, or list the optional time-tracking
//! module, so they exist twice: the working file at the root, and a Liquid
//! twin under template/ that the post hook moves into place. These tests
//! keep each twin identical to its root file but for the placeholders, and
//! for the lines marked `module: time_tracking`, which the twin keeps only
//! when the app is generated with the module (`-d time_tracking=false`
//! leaves them out). After changing a root file (adding a dependency, say),
//! refresh the twins with:
//!
//!     UPDATE_TEMPLATE=1 cargo test --test template

use std::path::Path;

/// Root file → what stands in its twin.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("saas-starter", "{{project-name}}"),
    ("\"SaaS Starter\"", "\"{{app_name}}\""),
];

/// Marks a root line that belongs to the time-tracking module.
const MODULE_MARKER: &str = "module: time_tracking";

/// In Markdown, where a line can't carry a comment everywhere (inside a
/// code block), these lines open and close a block of the module's lines.
const MODULE_BLOCK: (&str, &str) = (
    "<!-- module: time_tracking -->",
    "<!-- end module: time_tracking -->",
);

/// The twin a root file must have.
fn twin_of(original: &str) -> String {
    let mut twin = String::new();
    for line in original.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == MODULE_BLOCK.0 {
            twin.push_str("{% if time_tracking %}");
            twin.push_str(line);
        } else if bare == MODULE_BLOCK.1 {
            twin.push_str(line);
            twin.push_str("{% endif %}");
        } else if line.contains(MODULE_MARKER) {
            twin.push_str("{% if time_tracking %}");
            twin.push_str(&rendered(line));
            twin.push_str("{% endif %}");
        } else {
            twin.push_str(&rendered(line));
        }
    }
    twin
}

/// What stands in the twin for one root line: the placeholders in place of
/// the project's names, and a line Liquid would read as its own (Railway's
/// `${{Postgres.DATABASE_URL}}`, an askama tag quoted in the docs) kept as
/// it is, raw.
fn rendered(line: &str) -> String {
    if line.contains("{{") || line.contains("{%") {
        format!("{{% raw %}}{line}{{% endraw %}}")
    } else {
        PLACEHOLDERS
            .iter()
            .fold(line.to_owned(), |text, (from, to)| text.replace(from, to))
    }
}

/// Cargo.lock can't carry the module's markers (cargo rewrites it), so its
/// twin is derived from the lock cargo itself writes for the app without
/// the module: what only the full app's lock has (the module's crate, the
/// dependencies only it uses, their lines in the app's list) is kept only
/// when the app is generated with the module.
fn lock_twin(full: &str) -> String {
    let lean = lean_lock();
    let lean_blocks: Vec<&str> = lean.split("\n\n").collect();
    let blocks: Vec<&str> = full.split("\n\n").collect();
    let mut twin = String::new();
    for (i, block) in blocks.iter().enumerate() {
        let separator = if i + 1 < blocks.len() { "\n\n" } else { "" };
        if lean_blocks.contains(block) {
            twin.push_str(&rendered(block));
            twin.push_str(separator);
        } else if let Some(lean_block) = lean_blocks
            .iter()
            .find(|b| package_of(b) == package_of(block))
        {
            // The same package, with fewer dependencies: line by line.
            let mut kept = lean_block.split_inclusive('\n').peekable();
            for line in block.split_inclusive('\n') {
                if kept.peek() == Some(&line) {
                    kept.next();
                    twin.push_str(&rendered(line));
                } else {
                    twin.push_str(&format!("{{% if time_tracking %}}{line}{{% endif %}}"));
                }
            }
            assert!(
                kept.next().is_none(),
                "the lean lock's {block} is a subset of the full one's"
            );
            twin.push_str(separator);
        } else {
            assert!(
                !separator.is_empty(),
                "the lock's last package is the app's own"
            );
            twin.push_str(&format!(
                "{{% if time_tracking %}}{block}{separator}{{% endif %}}"
            ));
        }
    }
    twin
}

/// A lock entry's first two lines: `[[package]]` and its name.
fn package_of(block: &str) -> Vec<&str> {
    block.lines().take(2).collect()
}

/// The Cargo.lock of the app generated without the module: the root's
/// manifests without the module's lines, resolved by cargo offline in a
/// scratch folder with placeholder sources.
fn lean_lock() -> String {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let at = |path: &str| {
        let path = scratch.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create folder");
        path
    };
    let manifest: String = std::fs::read_to_string(root().join("Cargo.toml"))
        .expect("Cargo.toml")
        .split_inclusive('\n')
        .filter(|line| !line.contains(MODULE_MARKER))
        .collect();
    std::fs::write(at("Cargo.toml"), &manifest).expect("write");
    std::fs::copy(root().join("Cargo.lock"), at("Cargo.lock")).expect("copy the lock");
    let mut placeholders = vec!["src/main.rs".to_owned(), "src/lib.rs".to_owned()];
    for entry in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if manifest.contains(&format!("\"crates/{name}\"")) {
            std::fs::copy(
                entry.path().join("Cargo.toml"),
                at(&format!("crates/{name}/Cargo.toml")),
            )
            .expect("copy a crate's manifest");
            placeholders.push(format!("crates/{name}/src/lib.rs"));
        }
    }
    let mut lines = manifest.lines();
    while let Some(line) = lines.next() {
        if let Some(kind) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let name = lines
                .next()
                .and_then(|l| l.strip_prefix("name = "))
                .expect("a target's name");
            let folder = match kind {
                "bench" => "benches",
                "test" => "tests",
                _ => continue,
            };
            placeholders.push(format!("{folder}/{}.rs", name.trim_matches('"')));
        }
    }
    for placeholder in placeholders {
        std::fs::write(at(&placeholder), "fn main() {}").expect("write a placeholder");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let resolved = std::process::Command::new(cargo)
        .args(["update", "--workspace", "--offline"])
        .current_dir(scratch.path())
        .output()
        .expect("run cargo update");
    assert!(
        resolved.status.success(),
        "cargo resolves the app without the module: {}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    std::fs::read_to_string(at("Cargo.lock")).expect("the lean lock")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files the post hook moves into place, read from the hook itself,
/// sorted.
fn twins() -> Vec<String> {
    let hook = std::fs::read_to_string(root().join("template/move-into-place.rhai"))
        .expect("the post hook");
    let list = hook
        .split_once("for path in [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .expect("the list of twins")
        .0;
    let mut twins: Vec<String> = list
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect();
    twins.sort();
    twins
}

/// The files under template/ but its hook scripts, sorted, relative to it.
fn files_under_template() -> Vec<String> {
    let template = root().join("template");
    let mut files = Vec::new();
    let mut folders = vec![template.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("template/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_none_or(|e| e != "rhai") {
                let relative = path.strip_prefix(&template).expect("under template/");
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn each_template_twin_matches_its_root_file_but_for_the_placeholders() {
    let update = std::env::var("UPDATE_TEMPLATE").is_ok_and(|v| v == "1");
    let twins = twins();
    for path in &twins {
        let original =
            std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let expected = if path == "Cargo.lock" {
            lock_twin(&original)
        } else {
            twin_of(&original)
        };
        assert_ne!(
            expected, original,
            "{path} names the project or the module, or it needs no twin"
        );
        let twin_path = root().join("template").join(path);
        if update {
            std::fs::create_dir_all(twin_path.parent().expect("a folder")).expect("create folder");
            std::fs::write(&twin_path, &expected).expect("write twin");
        }
        let twin = std::fs::read_to_string(&twin_path).unwrap_or_default();
        assert!(
            twin == expected,
            "template/{path} is out of date: run UPDATE_TEMPLATE=1 cargo test --test template"
        );
    }
    // Checked after the twins are (re)written, so that a newly listed twin
    // can be created with UPDATE_TEMPLATE=1: a twin left off the list would
    // stay a root file naming the project in the generated app.
    assert_eq!(
        twins,
        files_under_template(),
        "the post hook's list of twins (template/move-into-place.rhai) against the files under template/"
    );
}

#[test]
fn askama_templates_and_other_brace_files_are_copied_not_rendered() {
    let config =
        std::fs::read_to_string(root().join("cargo-generate.toml")).expect("cargo-generate.toml");
    assert!(
        config.contains(r#"include = ["template/**"]"#),
        "only template/ is rendered with Liquid"
    );
}
