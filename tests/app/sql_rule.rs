//! The rule of ARCHITECTURE §11, by type: SQL that names a tenant-owned table
//! may only live in a function that takes a tenant scope (`TenantScope`) or
//! the audited cross-tenant scope (`AllTenantsScope`), and must run on it,
//! not on the pool; a `UserScope` (one user's own memberships) may only name
//! `memberships`. SQL on global tables outside such functions (or ones that
//! take the `SuperAdmin` proof) lives in a module named `global` (or the
//! session store, which implements tower-sessions' trait). The tables are
//! read from the live schema, so a new table is covered.

use std::path::{Path, PathBuf};

use app::db::Backend;
use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};

use crate::fixtures::tenant_owned_tables;
use crate::support::{TestApp, TestDatabase};

/// Types that bind a function to a scope (or the super-admin proof).
const SCOPE_TYPES: [&str; 4] = ["TenantScope", "UserScope", "AllTenantsScope", "SuperAdmin"];

/// What a function's scope lets its SQL name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Allowance {
    /// No scope: global tables, and only in a `global` module.
    None,
    /// `SuperAdmin` alone: global tables (the audit log).
    GlobalOnly,
    /// `UserScope`: global tables and `memberships`.
    OwnMemberships,
    /// `TenantScope` or `AllTenantsScope`: every table.
    Everything,
}

fn allowance(scopes: &[String]) -> Allowance {
    let has = |name: &str| scopes.iter().any(|s| s == name);
    if has("TenantScope") || has("AllTenantsScope") {
        Allowance::Everything
    } else if has("UserScope") {
        Allowance::OwnMemberships
    } else if has("SuperAdmin") {
        Allowance::GlobalOnly
    } else {
        Allowance::None
    }
}

struct Tables {
    tenant_owned: Vec<String>,
    global: Vec<String>,
}

struct Checker<'a> {
    tables: &'a Tables,
    file: &'a str,
    may_query_global: bool,
    impl_types: Vec<String>,
    violations: Vec<String>,
}

fn mentions(sql: &str, table: &str) -> bool {
    let sql = sql.to_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    sql.match_indices(table).any(|(at, _)| {
        !word(sql[..at].chars().next_back()) && !word(sql[at + table.len()..].chars().next())
    })
}

fn is_sql(text: &str) -> bool {
    let upper = text.to_uppercase();
    ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", " FROM "]
        .iter()
        .any(|keyword| upper.contains(keyword))
}

fn string_literals(tokens: TokenStream, found: &mut Vec<String>) {
    for token in tokens {
        match token {
            TokenTree::Group(group) => string_literals(group.stream(), found),
            TokenTree::Literal(literal) => {
                if let Ok(text) = syn::parse_str::<syn::LitStr>(&literal.to_string()) {
                    found.push(text.value());
                }
            }
            _ => {}
        }
    }
}

fn scopes_named(tokens: TokenStream, found: &mut Vec<String>) {
    for token in tokens {
        match token {
            TokenTree::Ident(ident) if SCOPE_TYPES.contains(&ident.to_string().as_str()) => {
                found.push(ident.to_string());
            }
            TokenTree::Group(group) => scopes_named(group.stream(), found),
            _ => {}
        }
    }
}

fn uses_the_pool(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "on_backend",
        TokenTree::Group(group) => uses_the_pool(group.stream()),
        _ => false,
    })
}

impl Checker<'_> {
    fn check(&mut self, item: &str, allowance: Allowance, body: TokenStream) {
        let on_pool = uses_the_pool(body.clone());
        let mut literals = Vec::new();
        string_literals(body, &mut literals);
        for sql in literals.iter().filter(|text| is_sql(text)) {
            for table in &self.tables.tenant_owned {
                if !mentions(sql, table) {
                    continue;
                }
                let allowed = match allowance {
                    Allowance::Everything => true,
                    Allowance::OwnMemberships => table == "memberships",
                    Allowance::GlobalOnly | Allowance::None => false,
                };
                if !allowed {
                    self.violations.push(format!(
                        "{}: {item} queries tenant-owned `{table}` without a scope that allows it",
                        self.file
                    ));
                } else if on_pool {
                    self.violations.push(format!(
                        "{}: {item} queries tenant-owned `{table}` on the pool, not on its scope",
                        self.file
                    ));
                }
            }
            if allowance == Allowance::None && !self.may_query_global {
                for table in &self.tables.global {
                    if mentions(sql, table) {
                        self.violations.push(format!(
                            "{}: {item} queries global `{table}` outside a `global` module",
                            self.file
                        ));
                    }
                }
            }
        }
    }

    fn check_fn(&mut self, name: &syn::Ident, signature: &syn::Signature, body: TokenStream) {
        let mut scopes = Vec::new();
        scopes_named(signature.inputs.to_token_stream(), &mut scopes);
        if signature.receiver().is_some()
            && let Some(self_type) = self.impl_types.last()
            && SCOPE_TYPES.contains(&self_type.as_str())
        {
            scopes.push(self_type.clone());
        }
        self.check(&format!("fn {name}"), allowance(&scopes), body);
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let self_type = match &*item.self_ty {
            syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        self.impl_types.push(self_type.unwrap_or_default());
        visit::visit_item_impl(self, item);
        self.impl_types.pop();
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.check_fn(&item.sig.ident, &item.sig, item.block.to_token_stream());
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.check_fn(&item.sig.ident, &item.sig, item.block.to_token_stream());
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.check(
            &format!("const {}", item.ident),
            Allowance::None,
            item.expr.to_token_stream(),
        );
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        self.check(
            &format!("static {}", item.ident),
            Allowance::None,
            item.expr.to_token_stream(),
        );
    }
}

fn check_source(tables: &Tables, file: &str, source: &str) -> Vec<String> {
    let parsed = syn::parse_file(source).unwrap_or_else(|e| panic!("{file} parses: {e}"));
    let path = Path::new(file);
    let may_query_global = path.file_stem().is_some_and(|stem| stem == "global")
        || path.components().any(|c| c.as_os_str() == "global")
        // The session store implements tower-sessions' SessionStore trait,
        // whose methods can't take a scope; sessions are global.
        || file.ends_with("src/sessions/mod.rs");
    let mut checker = Checker {
        tables,
        file,
        may_query_global,
        impl_types: Vec::new(),
        violations: Vec::new(),
    };
    checker.visit_file(&parsed);
    checker.violations
}

/// Every Rust file of the app's crates (`src/` and `crates/*/src/`), each
/// with its path from the repository's root.
pub(crate) fn app_sources() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut folders = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).expect("read crates") {
        folders.push(entry.expect("entry").path().join("src"));
    }
    let mut files = Vec::new();
    for folder in folders {
        rust_files(&folder, &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(root).expect("under the root");
            (name.display().to_string(), path)
        })
        .collect()
}

pub(crate) fn rust_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

async fn live_tables() -> Tables {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&database, crate::support::Options::default()).await;
    let tenant_owned = tenant_owned_tables(&app.db).await;
    let app::db::Db::Sqlite(pool) = &app.db else {
        unreachable!()
    };
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' \
         AND name NOT LIKE 'sqlite%'",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    app.stop().await;
    let global = all
        .into_iter()
        .filter(|t| !tenant_owned.contains(t))
        .collect();
    Tables {
        tenant_owned,
        global,
    }
}

#[tokio::test]
async fn sql_on_tenant_tables_lives_only_in_functions_that_take_a_scope() {
    let tables = live_tables().await;
    assert!(
        tables.global.contains(&"tenants".to_owned())
            && tables.global.contains(&"users".to_owned())
    );
    let mut violations = Vec::new();
    let mut checked_sql = 0;
    for (name, file) in app_sources() {
        let source = std::fs::read_to_string(file).expect("read");
        checked_sql += source.matches("sqlx::query").count();
        violations.extend(check_source(&tables, &name, &source));
    }
    assert!(checked_sql > 20, "the scan found the app's queries");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[tokio::test]
async fn the_rule_catches_an_unscoped_query_and_a_stray_global_one() {
    let tables = live_tables().await;
    let bad = r#"
        async fn leaky(db: &Db) { on_backend!(db, |pool| sqlx::query("SELECT name FROM locations").fetch_all(pool).await); }
        const ALL: &str = "DELETE FROM location_grants";
        async fn scoped(scope: &mut TenantScope) { on_tx!(scope.tx(), |c| sqlx::query("SELECT name FROM locations")); }
        impl TenantScope { fn fine(&mut self) { sqlx::query("UPDATE memberships SET role = 'x'"); } }
        async fn stray(db: &Db) { sqlx::query("SELECT email FROM users"); }
        async fn proof_only(db: &Db, admin: &SuperAdmin) { sqlx::query("SELECT name FROM locations"); sqlx::query("INSERT INTO super_admin_audit (id) VALUES ($1)"); }
        async fn switcher(scope: &mut UserScope) { sqlx::query("SELECT role FROM memberships"); sqlx::query("SELECT name FROM locations"); }
        async fn bypass(db: &Db, scope: &mut TenantScope) { on_backend!(db, |pool| sqlx::query("DELETE FROM locations")); }
    "#;
    let found = check_source(&tables, "src/feature/mod.rs", bad);
    assert_eq!(found.len(), 6, "{found:#?}");
    assert!(found[3].contains("fn proof_only") && found[3].contains("`locations`"));
    assert!(found[4].contains("fn switcher") && found[4].contains("`locations`"));
    assert!(found[5].contains("fn bypass") && found[5].contains("on the pool"));
    assert!(found[0].contains("fn leaky") && found[0].contains("`locations`"));
    assert!(found[1].contains("const ALL") && found[1].contains("`location_grants`"));
    assert!(found[2].contains("fn stray") && found[2].contains("global `users`"));
    assert!(
        check_source(
            &tables,
            "src/accounts/global.rs",
            "fn f(db: &Db) { sqlx::query(\"SELECT email FROM users\"); }"
        )
        .is_empty()
    );
}

#[test]
fn the_cross_tenant_path_opens_only_through_all_tenants_unsafe() {
    let files = app_sources();
    // (needle, the only files that may contain it)
    let rules: [(&str, &[&str]); 6] = [
        ("app.all_tenants", &["crates/kernel/src/tenancy/scope.rs"]),
        (
            "Binding::AllTenants",
            &["crates/kernel/src/tenancy/scope.rs", "crates/kernel/src/tenancy/super_admin.rs"],
        ),
        ("SuperAdmin::for_cli", &["src/cli.rs"]),
        (
            "behind_impersonation(",
            &["crates/kernel/src/access/super_admin.rs", "src/admin/impersonation.rs"],
        ),
        ("SuperAdmin::for_user", &["crates/kernel/src/access/super_admin.rs"]),
        // A transaction bound to no tenant: only for the global tables that
        // key rotation walks without knowing them by name.
        ("Tx::global", &["crates/kernel/src/crypto/sealed.rs"]),
    ];
    for (needle, allowed) in rules {
        let mut seen_in = Vec::new();
        for (name, file) in &files {
            let source = std::fs::read_to_string(file).expect("read");
            if source.contains(needle) {
                seen_in.push(name.clone());
            }
        }
        assert!(!seen_in.is_empty(), "{needle} is used somewhere");
        for file in seen_in {
            assert!(
                allowed.contains(&file.as_str()),
                "{needle} in {file}: only {allowed:?} may"
            );
        }
    }
}

/// Queries read named rows (`row!`), never positional tuples: a `let` whose
/// type holds a tuple and whose value runs `query_as`, or a
/// `query_as::<_, (…)>`.
fn tuple_rows(file: &str, source: &str) -> Vec<String> {
    struct Finder<'a> {
        file: &'a str,
        found: Vec<String>,
    }
    fn is_vec(ty: &syn::Type) -> bool {
        matches!(ty, syn::Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Vec"))
    }
    // A tuple of result sets (`(Vec<A>, Vec<B>)`) is two queries' rows, not
    // a row.
    fn has_tuple(ty: &syn::Type) -> bool {
        match ty {
            syn::Type::Tuple(tuple) => {
                !tuple.elems.is_empty() && !tuple.elems.iter().all(is_vec)
            }
            syn::Type::Path(path) => path.path.segments.iter().any(|segment| {
                matches!(&segment.arguments, syn::PathArguments::AngleBracketed(args)
                    if args.args.iter().any(|arg| matches!(arg, syn::GenericArgument::Type(t) if has_tuple(t))))
            }),
            _ => false,
        }
    }
    fn runs_query_as(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "query_as",
            TokenTree::Group(group) => runs_query_as(group.stream()),
            _ => false,
        })
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_local(&mut self, local: &'ast syn::Local) {
            if let (syn::Pat::Type(typed), Some(init)) = (&local.pat, &local.init)
                && has_tuple(&typed.ty)
                && runs_query_as(init.expr.to_token_stream())
            {
                self.found.push(format!(
                    "{}: {} reads a tuple",
                    self.file,
                    typed.pat.to_token_stream()
                ));
            }
            visit::visit_local(self, local);
        }
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            let text = mac.tokens.to_string().replace(' ', "");
            if text.contains("query_as::<_,(") {
                self.found
                    .push(format!("{}: query_as::<_, (…)> reads a tuple", self.file));
            }
            visit::visit_macro(self, mac);
        }
        fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
            let text = path.to_token_stream().to_string().replace(' ', "");
            if text.contains("query_as::<_,(") {
                self.found
                    .push(format!("{}: query_as::<_, (…)> reads a tuple", self.file));
            }
            visit::visit_expr_path(self, path);
        }
    }
    let parsed = syn::parse_file(source).unwrap_or_else(|e| panic!("{file} parses: {e}"));
    let mut finder = Finder {
        file,
        found: Vec::new(),
    };
    finder.visit_file(&parsed);
    finder.found
}

/// What `check` (given a file's name and source) finds in every file of
/// the app's crates.
fn in_src(check: fn(&str, &str) -> Vec<String>) -> Vec<String> {
    app_sources()
        .iter()
        .flat_map(|(name, path)| {
            let source = std::fs::read_to_string(path).expect("read");
            check(name, &source)
        })
        .collect()
}

#[test]
fn queries_read_named_rows_not_tuples() {
    let found = in_src(tuple_rows);
    assert!(found.is_empty(), "tuple rows:\n{}", found.join("\n"));
    // The check itself sees both shapes.
    let planted = "fn f() { let rows: Vec<(i64, String)> = on_tx!(tx, |c| sqlx::query_as(\"SELECT 1\")); \
                   let n = sqlx::query_as::<_, (i64, i64)>(\"SELECT 1, 2\"); \
                   let fine: Vec<(i64, i64)> = pairs(); }";
    assert_eq!(tuple_rows("planted.rs", planted).len(), 2);
}

/// The string literals of `source` that `matches`, named by `file`.
fn literals_where(file: &str, source: &str, matches: fn(&str) -> bool) -> Vec<String> {
    let tokens: TokenStream = source.parse().expect("tokens");
    let mut literals = Vec::new();
    string_literals(tokens, &mut literals);
    literals
        .into_iter()
        .filter(|sql| matches(sql))
        .map(|sql| format!("{file}: {sql}"))
        .collect()
}

/// SQL that filters on an optional parameter with `($n IS NULL OR …)`,
/// which keeps SQLite (and PostgreSQL's generic plans) from using an index
/// for the condition: `db::optional_filter` is the one way to write one.
fn or_null_filter(sql: &str) -> bool {
    sql.split('$').skip(1).any(|after| {
        let rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
        rest.len() < after.len() && rest.to_uppercase().starts_with(" IS NULL OR ")
    })
}

fn or_null_filters(file: &str, source: &str) -> Vec<String> {
    literals_where(file, source, or_null_filter)
}

#[test]
fn optional_filters_are_written_one_way() {
    let found = in_src(or_null_filters);
    assert!(
        found.is_empty(),
        "write these with db::optional_filter:\n{}",
        found.join("\n")
    );
    // The check sees the pattern, and leaves a column's own NULL alone.
    let planted = r#"fn f() { q("SELECT 1 FROM t WHERE tenant_id = $1 AND ($2 IS NULL OR id = $2)");
                      q("SELECT 1 FROM t WHERE (locked_until IS NULL OR locked_until <= $2)"); }"#;
    assert_eq!(or_null_filters("planted.rs", planted).len(), 1);
}

/// A statement with its row lock written in: the lock clause goes to
/// `on_tx_locking!` / `on_backend_locking!` on its own (`" FOR UPDATE"`),
/// which gives SQLite the statement without it.
fn row_lock_written_in(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    upper.contains("SELECT ") && upper.contains("FOR UPDATE")
}

fn stray_row_locks(file: &str, source: &str) -> Vec<String> {
    literals_where(file, source, row_lock_written_in)
}

#[test]
fn postgres_row_locks_are_written_one_way() {
    let found = in_src(stray_row_locks);
    assert!(
        found.is_empty(),
        "lock rows with on_tx_locking!(tx, statement!(\" FOR UPDATE\"), …):\n{}",
        found.join("\n")
    );
    let planted = r#"fn f() { q("SELECT id FROM t WHERE tenant_id = $1 FOR UPDATE");
                      on_tx_locking!(tx, s!(" FOR UPDATE"), |c, sql| q(sql)); }"#;
    assert_eq!(stray_row_locks("planted.rs", planted).len(), 1);
}
