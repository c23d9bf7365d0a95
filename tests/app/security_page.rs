//! SECURITY.md names the test behind each defence: each must exist, so the
//! page can't promise what no test proves. (Tests of a module that an app
//! was generated without are skipped with it.)

#[test]
fn every_test_the_security_page_names_exists() {
    let root = env!("CARGO_MANIFEST_DIR");
    let page = std::fs::read_to_string(format!("{root}/SECURITY.md")).expect("SECURITY.md");
    let mut named = 0;
    for cell in page.split('`') {
        // `file::test`, `modules::name::file::test`
        let parts: Vec<&str> = cell.split("::").collect();
        if parts.len() < 2
            || !cell
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == ':')
        {
            continue;
        }
        let (test, path) = parts.split_last().expect("two parts");
        let file = format!("{root}/tests/app/{}.rs", path.join("/"));
        let Ok(source) = std::fs::read_to_string(&file) else {
            assert!(
                path[0] == "modules",
                "SECURITY.md names {cell}, but there is no {file}"
            );
            continue;
        };
        assert!(
            source.contains(&format!("fn {test}(")),
            "SECURITY.md names {cell}, which {file} doesn't define"
        );
        named += 1;
    }
    assert!(named > 30, "the page names its tests ({named} found)");
}
