//! The stylesheet is generated from the templates at build time; these tests
//! fail when a class used in a template has no rule in it (a Tailwind v3 name
//! that v4 renamed, a typo, or a class the scanner can't see).

use app::db::Backend;
use std::collections::BTreeSet;
use std::path::Path;

use app::http::assets;

use crate::support::{backend_test, run_on};

/// The classes in every `class="…"` attribute under `templates/`, with any
/// askama tags or expressions inside the attribute removed.
fn template_classes() -> BTreeSet<String> {
    let mut classes = BTreeSet::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("templates/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("template");
            for attribute in text.split("class=\"").skip(1) {
                let value = attribute.split('"').next().unwrap_or_default();
                classes.extend(
                    without_template_tags(value)
                        .split_whitespace()
                        .map(str::to_owned),
                );
            }
        }
    }
    classes
}

fn without_template_tags(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push(' ');
        let close = if rest[start..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        rest = rest[start..]
            .find(close)
            .map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out
}

/// How a class appears as a CSS selector (`md:grid-cols-3` → `.md\:grid-cols-3`).
fn selector(class: &str) -> String {
    let mut escaped = String::from(".");
    for c in class.chars() {
        if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[test]
fn every_class_used_in_templates_has_a_rule_in_the_stylesheet() {
    let css = assets::stylesheet();
    let classes = template_classes();
    assert!(
        classes.len() > 50,
        "found the templates' classes: {}",
        classes.len()
    );
    let missing: Vec<_> = classes
        .iter()
        .filter(|class| !css.contains(&selector(class)))
        .collect();
    assert!(
        missing.is_empty(),
        "classes with no CSS rule (Tailwind v4 names? typo?): {missing:?}"
    );
}

#[test]
fn the_scanner_finds_classes_next_to_askama_tags() {
    // base.html picks the flash colours inside {% match %} arms.
    let css = assets::stylesheet();
    for class in ["bg-emerald-50", "bg-sky-50", "bg-red-50"] {
        assert!(css.contains(&selector(class)), "{class}");
    }
    assert!(css.contains("@media"), "responsive variants are generated");
}

backend_test!(assets_have_a_versioned_immutable_url_and_a_revalidated_plain_one);
async fn assets_have_a_versioned_immutable_url_and_a_revalidated_plain_one(backend: Backend) {
    run_on(backend, |app| async move {
        let versioned = assets::url("app.css");
        assert!(
            versioned.starts_with("/static/app.")
                && versioned.ends_with(".css")
                && versioned != "/static/app.css"
        );
        let response = app.get(&versioned).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ASCII")
                .starts_with("text/css")
        );
        assert_eq!(response.text().await.expect("body"), assets::stylesheet());

        let plain = app.get("/static/app.css").await;
        assert_eq!(plain.headers()["cache-control"], "no-cache");
        let etag = plain.headers()["etag"].clone();
        let revalidated = app
            .client
            .get(app.url("/static/app.css"))
            .header("if-none-match", etag)
            .send()
            .await;
        assert_eq!(revalidated.expect("GET").status(), 304);

        assert_eq!(app.get("/static/app.00000000.css").await.status(), 404);
        assert_eq!(app.get("/static/../Cargo.toml").await.status(), 404);
    })
    .await;
}

#[derive(askama::Template)]
#[template(
    source = r#"{% import "macros/forms.html" as forms %}<form>{% call forms::field("email", "Email", "email", value, error) %}{% endcall %}{% call forms::submit("Save") %}{% endcall %}</form>"#,
    ext = "html"
)]
struct FieldProbe<'a> {
    value: &'a str,
    error: Option<&'a str>,
}

#[test]
fn form_fields_have_labels_and_errors_tied_to_their_inputs() {
    use askama::Template;

    let valid = FieldProbe {
        value: "ana@example.com",
        error: None,
    }
    .render()
    .expect("renders");
    assert!(valid.contains(r#"<label for="email""#), "{valid}");
    assert!(
        valid.contains(r#"id="email""#) && valid.contains(r#"value="ana@example.com""#),
        "{valid}"
    );
    assert!(!valid.contains("aria-invalid"), "{valid}");

    let invalid = FieldProbe {
        value: "ana@",
        error: Some("Enter a whole email address."),
    }
    .render()
    .expect("renders");
    assert!(invalid.contains(r#"aria-invalid="true""#), "{invalid}");
    assert!(
        invalid.contains(r#"aria-describedby="email-error""#),
        "{invalid}"
    );
    assert!(
        invalid.contains(r#"<p id="email-error""#)
            && invalid.contains("Enter a whole email address."),
        "{invalid}"
    );
    assert!(
        invalid.contains("focus:outline-indigo-600"),
        "a visible focus ring"
    );
}
