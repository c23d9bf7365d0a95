//! The rule of ARCHITECTURE §11, by type: SQL that names a tenant-owned table
//! may only live in a function that takes a tenant scope (`TenantScope`,
//! `UserScope`) or the super-admin proof (`SuperAdmin`, `AllTenantsScope`).
//! SQL on global tables outside such functions lives in a module named
//! `global` (or the session store, which implements tower-sessions' trait).
//! The tables are read from the live schema, so a new table is covered.

use std::path::{Path, PathBuf};

use app::db::Backend;
use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};

use crate::fixtures::tenant_owned_tables;
use crate::support::{TestApp, TestDatabase};

/// Types whose presence in a signature makes SQL on tenant tables allowed.
const SCOPE_TYPES: [&str; 4] = ["TenantScope", "UserScope", "AllTenantsScope", "SuperAdmin"];

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

fn names_a_scope(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => SCOPE_TYPES.contains(&ident.to_string().as_str()),
        TokenTree::Group(group) => names_a_scope(group.stream()),
        _ => false,
    })
}

impl Checker<'_> {
    fn check(&mut self, item: &str, scoped: bool, body: TokenStream) {
        let mut literals = Vec::new();
        string_literals(body, &mut literals);
        for sql in literals.iter().filter(|text| is_sql(text)) {
            if scoped {
                continue;
            }
            for table in &self.tables.tenant_owned {
                if mentions(sql, table) {
                    self.violations.push(format!(
                        "{}: {item} queries tenant-owned `{table}` without taking a tenant scope or the super-admin proof",
                        self.file
                    ));
                }
            }
            if !self.may_query_global {
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
        let in_scope_impl = self
            .impl_types
            .last()
            .is_some_and(|ty| SCOPE_TYPES.contains(&ty.as_str()))
            && signature.receiver().is_some();
        let scoped = in_scope_impl || names_a_scope(signature.inputs.to_token_stream());
        self.check(&format!("fn {name}"), scoped, body);
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
            false,
            item.expr.to_token_stream(),
        );
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        self.check(
            &format!("static {}", item.ident),
            false,
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

fn rust_files(folder: &Path, found: &mut Vec<PathBuf>) {
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
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut violations = Vec::new();
    let mut checked_sql = 0;
    for file in &files {
        let source = std::fs::read_to_string(file).expect("read");
        checked_sql += source.matches("sqlx::query").count();
        let name = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(file)
            .display()
            .to_string();
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
    "#;
    let found = check_source(&tables, "src/feature/mod.rs", bad);
    assert_eq!(found.len(), 3, "{found:#?}");
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
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    // (needle, the only files that may contain it)
    let rules: [(&str, &[&str]); 3] = [
        ("app.all_tenants", &["src/tenancy/scope.rs"]),
        (
            "Binding::AllTenants",
            &["src/tenancy/scope.rs", "src/tenancy/super_admin.rs"],
        ),
        ("SuperAdmin::for_cli", &["src/cli.rs"]),
    ];
    for (needle, allowed) in rules {
        let mut seen_in = Vec::new();
        for file in &files {
            let source = std::fs::read_to_string(file).expect("read");
            if source.contains(needle) {
                let name = file
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or(file);
                seen_in.push(
                    name.display()
                        .to_string()
                        .trim_start_matches('/')
                        .to_owned(),
                );
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
