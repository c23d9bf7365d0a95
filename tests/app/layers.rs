//! The layers of the app's code, lowest first, and the rule that keeps them
//! (the three crates read as one: [`sources`]; Cargo already refuses an
//! import from a crate above, this orders the folders within): a file
//! may import (`crate::…`, in `use` lines, paths and macros alike) any file
//! of its own folder, and from other folders only what sits in a lower
//! layer. So the foundation names no capability, a capability names only
//! those below it, and only the composition root (`lib.rs`) names them all.
//!
//! A unit is a folder or a top-level file. Where a capability's request
//! handlers (its "doors": pages and API) need the access layer, which in
//! turn reads the capability's own records (accounts, API tokens, billing
//! state), the folder is split: its records below `access`, its doors
//! above, each file named.

use std::collections::BTreeMap;
use std::str::FromStr;

use proc_macro2::{TokenStream, TokenTree};

/// Lowest first. Units in one layer may not import each other.
const LAYERS: &[&[&str]] = &[
    // The foundation.
    &["brand.rs", "ids.rs"],
    &["tokens.rs", "error.rs"],
    &["validation.rs", "db"],
    &["config.rs"],
    &["crypto", "telemetry.rs", "sessions"],
    &["tenancy"],
    &[
        "rate_limits",
        "api",
        "crypto/sealed.rs",
        "billing/stripe.rs",
        "billing/catalog.rs",
        "mail/transport.rs",
        "mail/dev_mailbox.rs",
    ],
    &["http"],
    &["jobs"],
    &["capability.rs"],
    // What the doors read: who a user is, which token, the tenant's plan.
    &["accounts"],
    &["mail"],
    &[
        "api_tokens",
        "billing/state.rs",
        "billing/plans.rs",
        "billing/global.rs",
    ],
    // The doors, and the kit their pages are built with.
    &["access"],
    &["pages"],
    // The capabilities, each above those it uses.
    &["api_tokens/api.rs", "api_tokens/pages.rs"],
    &["billing"],
    &["locations"],
    &["members"],
    // Single sign-on's records, and what every way in asks it.
    &["sso"],
    &["invitations"],
    &["members/pages.rs"],
    &["tenants"],
    &[
        "accounts/pages.rs",
        "accounts/api.rs",
        "accounts/signup.rs",
        "accounts/verification.rs",
        "accounts/reset.rs",
        "accounts/sign_in_links.rs",
        "accounts/oauth",
        "accounts/passkeys.rs",
        "accounts/two_factor.rs",
        "accounts/account.rs",
    ],
    // Its doors: the round trip reuses the providers' (accounts/oauth).
    &["sso/sign_in.rs", "sso/proof.rs"],
    &["sso/settings.rs", "sso/api.rs"],
    &["admin"],
    // A capability folder not named above: a new one is a leaf, free to
    // import any capability below and imported by none (name it above
    // once another needs it).
    &[ANY_OTHER_FOLDER],
    &["modules"],
    // The composition root and the command line.
    &["modules.rs"],
    &["plans.rs"],
    &["lib.rs"],
    &["cli.rs"],
    &["main.rs"],
];

/// The unit in [`LAYERS`] of every folder it names nowhere else.
const ANY_OTHER_FOLDER: &str = "*/";

/// The declared unit of `file` (relative to `src/`): the longest entry of
/// [`LAYERS`] that names it or its folder, with its layer; a file in a
/// folder named nowhere is in [`ANY_OTHER_FOLDER`]'s layer. A top-level
/// file must be named.
fn unit_of(file: &str) -> Option<(&'static str, usize)> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(layer, units)| units.iter().map(move |unit| (*unit, layer)))
        .filter(|(unit, _)| file == *unit || file.starts_with(&format!("{unit}/")))
        .max_by_key(|(unit, _)| unit.len())
        .or_else(|| {
            let layer = LAYERS
                .iter()
                .position(|units| units.contains(&ANY_OTHER_FOLDER))?;
            file.contains('/').then_some((ANY_OTHER_FOLDER, layer))
        })
}

fn folder_of(file: &str) -> &str {
    file.split('/').next().unwrap_or(file)
}

/// Every `crate::a::b::…` path in `tokens`, `use` groups expanded.
fn crate_paths(tokens: TokenStream, found: &mut Vec<Vec<String>>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if matches!(&tokens[i], TokenTree::Ident(ident) if ident == "crate") {
            let (next, paths) = path_after(&tokens, i + 1, Vec::new());
            found.extend(paths);
            i = next.max(i + 1);
            continue;
        }
        if let TokenTree::Group(group) = &tokens[i] {
            crate_paths(group.stream(), found);
        }
        i += 1;
    }
}

fn is_colon(token: Option<&TokenTree>) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == ':')
}

/// Reads `::name::name…` or `::{…}` from `at`, after `prefix`; answers where
/// it stopped and the full paths read.
fn path_after(
    tokens: &[TokenTree],
    mut at: usize,
    mut prefix: Vec<String>,
) -> (usize, Vec<Vec<String>>) {
    loop {
        if !(is_colon(tokens.get(at)) && is_colon(tokens.get(at + 1))) {
            return (at, vec![prefix]);
        }
        at += 2;
        match tokens.get(at) {
            Some(TokenTree::Ident(ident)) => {
                prefix.push(ident.to_string());
                at += 1;
            }
            Some(TokenTree::Group(group)) => {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                let mut paths = Vec::new();
                for tree in inner.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
                {
                    if let Some(TokenTree::Ident(first)) = tree.first() {
                        let mut start = prefix.clone();
                        start.push(first.to_string());
                        paths.extend(path_after(tree, 1, start).1);
                    }
                }
                return (at + 1, paths);
            }
            _ => return (at, vec![prefix]),
        }
    }
}

/// The file (relative to `src/`) a `crate::…` path lands in: the deepest
/// module it names, the file that exports the macro it names, or the crate
/// root for what it defines itself (`crate::router`).
fn target(
    path: &[String],
    files: &BTreeMap<String, String>,
    macros: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(file) = path.first().and_then(|name| macros.get(name)) {
        return Some(file.clone());
    }
    (1..=path.len())
        .rev()
        .find_map(|depth| {
            let module = path[..depth].join("/");
            [format!("{module}.rs"), format!("{module}/mod.rs")]
                .into_iter()
                .find(|file| files.contains_key(file))
        })
        .or_else(|| (!path.is_empty()).then(|| "lib.rs".to_owned()))
}

/// Every import that breaks the layers, as `file -> file` lines.
fn violations(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut macros = BTreeMap::new();
    for (file, source) in files {
        for (at, _) in source.match_indices("#[macro_export]") {
            if let Some(name) = source[at..]
                .split("macro_rules!")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
            {
                macros.insert(name.trim_end_matches('{').to_owned(), file.clone());
            }
        }
    }
    let mut found = Vec::new();
    for (file, source) in files {
        let Some((_, layer)) = unit_of(file) else {
            found.push(format!("{file} is in no layer: declare it in LAYERS"));
            continue;
        };
        let tokens = TokenStream::from_str(source).unwrap_or_else(|e| panic!("{file} lexes: {e}"));
        let mut paths = Vec::new();
        crate_paths(tokens, &mut paths);
        for path in paths {
            let Some(to) = target(&path, files, &macros) else {
                continue;
            };
            if folder_of(&to) == folder_of(file) {
                continue;
            }
            let Some((unit, to_layer)) = unit_of(&to) else {
                continue;
            };
            if to_layer >= layer {
                found.push(format!(
                    "{file} -> crate::{} ({unit}, not below)",
                    path.join("::")
                ));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Every source file of the app's crates, keyed by its unit path as if
/// they were one crate: the kernel's (`crates/kernel/src/`) and the root's
/// (`src/`) by their paths, a module crate's (`crates/<name>/src/`) under
/// `modules/<name>/`. Paths are read the same way: `kernel::x` is
/// `crate::x` (the kernel names itself so too), and a module's `crate::x`
/// is `crate::modules::<name>::x`. A capability's folder in both crates
/// (its records in the kernel, its doors at the root) is one unit, its two
/// `mod.rs` one file.
fn sources() -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (name, path) in crate::sql_rule::app_sources() {
        let name = name.replace('\\', "/");
        let source = std::fs::read_to_string(&path).expect("read a source file");
        let kernel_or_root = name
            .strip_prefix("src/")
            .or_else(|| name.strip_prefix("crates/kernel/src/"));
        let (key, source) = if let Some(relative) = kernel_or_root {
            (relative.to_owned(), source.replace("kernel::", "crate::"))
        } else {
            let (module, relative) = name
                .strip_prefix("crates/")
                .and_then(|rest| rest.split_once("/src/"))
                .expect("a crate's source");
            let relative = if relative == "lib.rs" { "mod.rs" } else { relative };
            let source = source
                .replace("crate::", &format!("crate::modules::{module}::"))
                .replace("kernel::", "crate::");
            (format!("modules/{module}/{relative}"), source)
        };
        let merged = files.entry(key).or_default();
        merged.push_str(&source);
        merged.push('\n');
    }
    files
}

#[test]
fn every_import_in_the_app_points_down_the_layers() {
    let files = sources();
    for known in [
        "lib.rs",
        "tenancy/mod.rs",
        "access/mod.rs",
        "http/mod.rs",
        "locations/api.rs",
    ] {
        assert!(files.contains_key(known), "read the sources: {known} is there");
    }
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rule_catches_an_import_from_above_and_lets_one_from_below_pass() {
    let files: BTreeMap<String, String> = [
        (
            "tenancy/mod.rs",
            "use crate::{db::Db, accounts::{global::find_user, email}};",
        ),
        ("db/mod.rs", "fn f() { crate::on_tx!(); }"),
        (
            "db/tx.rs",
            "#[macro_export]\nmacro_rules! on_tx { () => {} }",
        ),
        (
            "accounts/mod.rs",
            "use crate::tenancy::Tenant; fn g() { crate::ids::typed(); }",
        ),
        ("accounts/global.rs", "use crate::notes::Note;"),
        ("accounts/email.rs", "use super::global;"),
        ("notes/mod.rs", "use crate::accounts::global::find_user;"),
        ("ids.rs", ""),
        ("http/mod.rs", "fn h() { crate::router(); }"),
        ("lib.rs", "pub mod http;"),
        ("stray.rs", ""),
    ]
    .into_iter()
    .map(|(file, source)| (file.to_owned(), source.to_owned()))
    .collect();
    assert_eq!(
        violations(&files),
        [
            "accounts/global.rs -> crate::notes::Note (*/, not below)",
            "http/mod.rs -> crate::router (lib.rs, not below)",
            "stray.rs is in no layer: declare it in LAYERS",
            "tenancy/mod.rs -> crate::accounts::email (accounts, not below)",
            "tenancy/mod.rs -> crate::accounts::global::find_user (accounts, not below)",
        ]
    );
}
