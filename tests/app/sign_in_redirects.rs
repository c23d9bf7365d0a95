//! Where a browser lands after signing in: only ever on this site, however
//! the `?next=` it was sent with is written. Tested in a real browser,
//! because browsers normalise a URL (dropping tabs and line breaks, reading
//! `\` as `/`) before following it.

use app::db::Backend;
use fantoccini::Locator;

use crate::accounts::{PASSWORD, sign_up};
use crate::browser::Browser;
use crate::support::{TestApp, backend_test, run_on};

/// The page's host, and whether it is the app's "somewhere else" probe.
async fn landed(browser: &Browser) -> (String, String) {
    let host = browser.run("return location.host;").await;
    let path = browser.run("return location.pathname;").await;
    (
        host.as_str().unwrap_or_default().to_owned(),
        path.as_str().unwrap_or_default().to_owned(),
    )
}

fn login_url(app: &TestApp, next: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    app.url(&format!("/login?next={next}"))
}

backend_test!(after_signing_in_a_browser_lands_only_on_this_site);
async fn after_signing_in_a_browser_lands_only_on_this_site(backend: Backend) {
    run_on(backend, |app| async move {
        let Some(browser) = Browser::launch().await else {
            return;
        };
        sign_up(&app, "owner@example.com", "Acme").await;
        let here = app.url("").trim_start_matches("http://").to_owned();
        let port = here.rsplit(':').next().expect("a port").to_owned();
        // Another origin (localhost is not 127.0.0.1 to a browser) that
        // this same server answers, so a wrong landing is seen, not a
        // DNS error.
        let elsewhere = format!("localhost:{port}/landed");
        let hostile = [
            format!("/\t/{elsewhere}"),
            format!("/\n/{elsewhere}"),
            format!("/\\{elsewhere}"),
            format!("/\t\\{elsewhere}"),
            format!("//{elsewhere}"),
            format!("/%5C{elsewhere}"),
            format!("/%2F{elsewhere}"),
            format!("http://{elsewhere}"),
        ];

        // Signing in through the form, sent there with a hostile `next`.
        browser
            .client
            .goto(&login_url(&app, &hostile[0]))
            .await
            .expect("open the sign-in page");
        let form = browser
            .client
            .form(Locator::Css("form[action='/login']"))
            .await
            .expect("the sign-in form");
        form.set_by_name("email", "owner@example.com")
            .await
            .expect("email")
            .set_by_name("password", PASSWORD)
            .await
            .expect("password");
        browser
            .click("form[action='/login'] button[type=submit]")
            .await;
        browser.wait_until("location.pathname !== '/login'").await;
        let (host, path) = landed(&browser).await;
        assert_eq!(
            (host.as_str(), path.as_str() == "/landed"),
            (here.as_str(), false),
            "signed in with next={:?}, the browser is at {host}{path}",
            hostile[0]
        );

        // Signed in, the sign-in page sends the browser straight on.
        for next in &hostile {
            browser
                .client
                .goto(&login_url(&app, next))
                .await
                .expect("follow the redirect");
            let (host, path) = landed(&browser).await;
            assert_eq!(
                (host.as_str(), path.as_str() == "/landed"),
                (here.as_str(), false),
                "next={next:?} took the browser to {host}{path} ({:?})",
                app.backend()
            );
        }
        // A path on this site is still honoured.
        browser
            .client
            .goto(&login_url(&app, "/account"))
            .await
            .expect("follow the redirect");
        assert_eq!(
            landed(&browser).await,
            (here.clone(), "/account".to_owned())
        );
        browser.close().await;
    })
    .await;
}
