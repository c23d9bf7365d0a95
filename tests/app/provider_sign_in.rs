//! Sign-in with OpenID Connect providers and GitHub, against the local mock
//! provider (`oidc_mock`) over real HTTP, on both databases: signing up,
//! signing in again, linking and unlinking, and every refusal, each
//! creating nothing.

use app::db::Backend;

use crate::accounts::{PASSWORD, count, sign_up};
use crate::oidc_mock::{Lie, MockProvider, Person};
use crate::sign_in_links::signed_in_as;
use crate::two_factor::code_step;
use crate::support::{
    Options, TestApp, backend_test, csrf_field, new_client, run_on_with,
};

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned()
}

/// The app configured for `keys`' providers at `provider`.
pub fn with(provider: &MockProvider, keys: &[&str]) -> Options {
    Options {
        vars: keys.iter().flat_map(|key| provider.vars(key)).collect(),
        ..Options::default()
    }
}

/// Follows the app's redirect to the provider (`response`), where the
/// person signs in; returns the path the provider sends the browser back
/// to, on the app.
pub async fn at_provider(provider: &MockProvider, response: reqwest::Response) -> String {
    assert_eq!(response.status(), 303, "to the provider");
    let url = location(&response);
    assert!(url.starts_with(&provider.url), "{url}");
    let back = new_client().get(&url).send().await.expect("the provider");
    assert_eq!(back.status(), 303, "back to the app");
    let back = location(&back);
    let path = &back[back.find("/login/").expect("the callback")..];
    path.to_owned()
}

/// Presses "Continue with …" on the sign-in page as `browser`, signs in
/// at the provider, and comes back: the app's answer.
pub async fn continue_with(
    app: &TestApp,
    provider: &MockProvider,
    browser: &reqwest::Client,
    key: &str,
) -> reqwest::Response {
    let start = browser
        .get(app.url(&format!("/login/oauth/{key}")))
        .send()
        .await
        .unwrap();
    let callback = at_provider(provider, start).await;
    browser.get(app.url(&callback)).send().await.unwrap()
}

/// Finishes a provider signup on the organisation page.
async fn name_organisation(app: &TestApp, browser: &reqwest::Client, name: &str) -> reqwest::Response {
    let (status, page) = app.page(browser, "/signup/oauth").await;
    assert_eq!(status, 200, "{page}");
    app.post_form(
        browser,
        "/signup/oauth",
        &[
            ("csrf_token", &csrf_field(&page)),
            ("organisation", name),
            ("time_zone", "Europe/Madrid"),
        ],
    )
    .await
}

/// Presses "Link …" on the account page as signed-in `browser`, with
/// `password`.
async fn press_link(
    app: &TestApp,
    browser: &reqwest::Client,
    key: &str,
    password: &str,
) -> reqwest::Response {
    let (_, page) = app.page(browser, "/account").await;
    app.post_form(
        browser,
        &format!("/account/identities/{key}"),
        &[("csrf_token", &csrf_field(&page)), ("link_password", password)],
    )
    .await
}

/// Links `key` as signed-in `browser` (whose password is the tests'), and
/// comes back from the provider: the app's answer.
async fn link(
    app: &TestApp,
    provider: &MockProvider,
    browser: &reqwest::Client,
    key: &str,
) -> reqwest::Response {
    let start = press_link(app, browser, key, PASSWORD).await;
    let callback = at_provider(provider, start).await;
    browser.get(app.url(&callback)).send().await.unwrap()
}

async fn unlink(app: &TestApp, browser: &reqwest::Client, key: &str) -> String {
    let (_, page) = app.page(browser, "/account").await;
    let response = app
        .post_form(
            browser,
            &format!("/account/identities/{key}/unlink"),
            &[("csrf_token", &csrf_field(&page))],
        )
        .await;
    assert_eq!(response.status(), 303);
    app.page(browser, "/account").await.1
}

async fn email_of(app: &TestApp, browser: &reqwest::Client) -> Option<String> {
    signed_in_as(app, browser)
        .await
        .map(|me| me["user"]["email"].as_str().expect("an email").to_owned())
}

backend_test!(a_new_person_signs_up_with_the_provider_then_signs_in_with_it);
async fn a_new_person_signs_up_with_the_provider_then_signs_in_with_it(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("acme-42", "Ana@Example.com"));
        let browser = new_client();
        let back = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(back.status(), 303);
        assert_eq!(location(&back), "/signup/oauth", "asked for the organisation first");
        assert_eq!(count(&app, "users").await, 0, "nothing yet");
        let (_, page) = app.page(&browser, "/signup/oauth").await;
        assert!(page.contains("ana@example.com") && page.contains("Acme ID"), "{page}");

        // A bad name is named, and creates nothing.
        let refused = name_organisation(&app, &browser, "").await;
        assert_eq!(refused.status(), 422);
        assert_eq!(count(&app, "users").await, 0);

        let created = name_organisation(&app, &browser, "Ana's Bakery").await;
        assert_eq!(created.status(), 303);
        assert!(location(&created).starts_with("/t/"), "{}", location(&created));
        let me = signed_in_as(&app, &browser).await.expect("signed in");
        assert_eq!(me["user"]["email"], "ana@example.com");
        assert_eq!(me["user"]["email_verified"], true, "the provider verified it");
        assert_eq!(count(&app, "tenants").await, 1);
        assert_eq!(count(&app, "user_identities").await, 1);

        // Another day, another browser: the provider signs them in.
        let later = new_client();
        let back = continue_with(&app, &provider, &later, "oidc").await;
        assert_eq!(back.status(), 303);
        assert_eq!(location(&back), "/app");
        assert_eq!(email_of(&app, &later).await.as_deref(), Some("ana@example.com"));
        assert_eq!(count(&app, "users").await, 1);

        // The account page lists the identity.
        let (_, account) = app.page(&later, "/account").await;
        assert!(account.contains("Unlink Acme ID"), "{account}");
    })
    .await;
}

backend_test!(the_sign_in_page_offers_exactly_the_configured_providers);
async fn the_sign_in_page_offers_exactly_the_configured_providers(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["google", "github"]);
    run_on_with(backend, || options, |app| async move {
        let browser = new_client();
        let (_, login) = app.page(&browser, "/login").await;
        assert!(login.contains("Continue with Google"), "{login}");
        assert!(login.contains("Continue with GitHub"), "{login}");
        assert!(!login.contains("/login/oauth/oidc"), "not configured: {login}");
        let (_, signup) = app.page(&browser, "/signup").await;
        assert!(signup.contains("Continue with Google"), "{signup}");
        assert_eq!(app.page(&browser, "/login/oauth/oidc").await.0, 404);
    })
    .await;
    // None configured: no button, no route.
    run_on_with(backend, Options::default, |app| async move {
        let browser = new_client();
        let (_, login) = app.page(&browser, "/login").await;
        assert!(!login.contains("Continue with"), "{login}");
        assert_eq!(app.page(&browser, "/login/oauth/google").await.0, 404);
    })
    .await;
}

backend_test!(google_and_github_sign_people_up);
async fn google_and_github_sign_people_up(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["google", "github"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("1001", "gina@example.com"));
        let google = new_client();
        let back = continue_with(&app, &provider, &google, "google").await;
        assert_eq!(location(&back), "/signup/oauth");
        assert_eq!(name_organisation(&app, &google, "Gina's").await.status(), 303);

        // GitHub is OAuth, not OpenID Connect: the id and the primary,
        // verified address come from its API.
        provider.sign_in_as(Person::new("583231", "octo@example.com"));
        let github = new_client();
        let back = continue_with(&app, &provider, &github, "github").await;
        assert_eq!(location(&back), "/signup/oauth");
        let (_, page) = app.page(&github, "/signup/oauth").await;
        assert!(page.contains("octo@example.com") && page.contains("GitHub"), "{page}");
        assert_eq!(name_organisation(&app, &github, "Octo").await.status(), 303);
        assert_eq!(email_of(&app, &github).await.as_deref(), Some("octo@example.com"));

        let again = new_client();
        let back = continue_with(&app, &provider, &again, "github").await;
        assert_eq!(location(&back), "/app");
        assert_eq!(email_of(&app, &again).await.as_deref(), Some("octo@example.com"));
        assert!(provider.served("/api/user/emails") >= 2);
    })
    .await;
}

backend_test!(an_id_token_failing_any_check_signs_no_one_in_and_creates_nothing);
async fn an_id_token_failing_any_check_signs_no_one_in_and_creates_nothing(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("mallory", "mallory@example.com"));
        for lie in [
            Lie::WrongAudience,
            Lie::Expired,
            Lie::WrongKey,
            Lie::WrongNonce,
            Lie::WrongIssuer,
            Lie::SymmetricAlgorithm,
        ] {
            provider.lie(Some(lie));
            let browser = new_client();
            let traded = provider.served("/token");
            let back = continue_with(&app, &provider, &browser, "oidc").await;
            assert_eq!(provider.served("/token"), traded + 1, "{lie:?}: the code was traded");
            assert_eq!(back.status(), 400, "{lie:?}");
            let page = back.text().await.unwrap();
            assert!(page.contains("confirm who you are"), "{lie:?}: {page}");
            assert!(signed_in_as(&app, &browser).await.is_none(), "{lie:?}");
            assert_eq!(app.page(&browser, "/signup/oauth").await.0, 303, "{lie:?}: no signup waits");
        }
        assert_eq!(count(&app, "users").await, 0);
        assert_eq!(count(&app, "user_identities").await, 0);
        // The same person, told the truth, gets in.
        provider.lie(None);
        let browser = new_client();
        let back = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(location(&back), "/signup/oauth");
    })
    .await;
}

backend_test!(a_wrong_state_or_a_replayed_code_is_refused);
async fn a_wrong_state_or_a_replayed_code_is_refused(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("sam", "sam@example.com"));
        let browser = new_client();

        // A state this browser's session didn't send.
        let start = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        let callback = at_provider(&provider, start).await;
        let forged = callback.replace("state=", "state=x");
        let refused = browser.get(app.url(&forged)).send().await.unwrap();
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("not started in this browser"));
        // …and the round trip is spent: the true callback no longer works.
        let late = browser.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(late.status(), 400);

        // A callback from another browser's round trip, while this one has
        // its own under way: the states differ.
        let mine = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        assert_eq!(mine.status(), 303);
        let other = new_client();
        let start = other.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        let theirs = at_provider(&provider, start).await;
        let refused = browser.get(app.url(&theirs)).send().await.unwrap();
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("not started in this browser"));
        assert_eq!(count(&app, "users").await, 0);

        // A code used once, sent again with a fresh round trip's state: the
        // provider refuses it.
        let first = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(location(&first), "/signup/oauth");
        let used_code = {
            let start = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
            let callback = at_provider(&provider, start).await;
            let response = browser.get(app.url(&callback)).send().await.unwrap();
            assert_eq!(response.status(), 303);
            query_value(&callback, "code")
        };
        let start = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        let fresh = at_provider(&provider, start).await;
        let replayed = fresh.replace(&query_value(&fresh, "code"), &used_code);
        let response = browser.get(app.url(&replayed)).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("refused this sign-in"));
        assert_eq!(count(&app, "users").await, 0);
    })
    .await;
}

fn query_value(path: &str, name: &str) -> String {
    let query = &path[path.find('?').expect("a query") + 1..];
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .expect("the parameter")
}

backend_test!(an_unverified_address_is_refused);
async fn an_unverified_address_is_refused(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc", "github"]);
    run_on_with(backend, || options, |app| async move {
        for (key, subject) in [("oidc", "unverified"), ("github", "77")] {
            provider.sign_in_as(Person {
                email_verified: false,
                ..Person::new(subject, "someone@example.com")
            });
            let browser = new_client();
            let back = continue_with(&app, &provider, &browser, key).await;
            assert_eq!(back.status(), 400, "{key}");
            assert!(back.text().await.unwrap().contains("confirm an email address"));
            assert_eq!(app.page(&browser, "/signup/oauth").await.0, 303, "no signup waits");
        }
        assert_eq!(count(&app, "users").await, 0);
    })
    .await;
}

backend_test!(an_address_with_an_account_is_linked_only_once_that_account_signs_in);
async fn an_address_with_an_account_is_linked_only_once_that_account_signs_in(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        let owner = sign_up(&app, "olga@example.com", "Olga's").await;
        // Someone at the provider with Olga's address: no takeover.
        provider.sign_in_as(Person::new("olga-at-acme", "olga@example.com"));
        let stranger = new_client();
        let back = continue_with(&app, &provider, &stranger, "oidc").await;
        assert_eq!(back.status(), 409);
        let page = back.text().await.unwrap();
        assert!(page.contains("An account with olga@example.com exists"), "{page}");
        assert!(signed_in_as(&app, &stranger).await.is_none());
        assert_eq!(count(&app, "user_identities").await, 0);
        assert_eq!(app.page(&stranger, "/signup/oauth").await.0, 303);

        // Olga, signed in, links it herself…
        let linked = link(&app, &provider, &owner, "oidc").await;
        assert_eq!(linked.status(), 303);
        assert_eq!(location(&linked), "/account");
        let (_, account) = app.page(&owner, "/account").await;
        assert!(account.contains("Acme ID is linked"), "{account}");
        assert!(account.contains("Unlink Acme ID"), "{account}");
        // …and from then on it signs her in.
        let browser = new_client();
        let back = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(location(&back), "/app");
        assert_eq!(email_of(&app, &browser).await.as_deref(), Some("olga@example.com"));

        // The same provider account can't be linked to a second user.
        let other = sign_up(&app, "petra@example.com", "Petra's").await;
        let refused = link(&app, &provider, &other, "oidc").await;
        assert_eq!(refused.status(), 409);
        assert_eq!(count(&app, "user_identities").await, 1);
    })
    .await;
}

backend_test!(two_factor_is_still_asked_after_a_provider_sign_in);
async fn two_factor_is_still_asked_after_a_provider_sign_in(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("tina", "tina@example.com"));
        let browser = new_client();
        continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(name_organisation(&app, &browser, "Tina's").await.status(), 303);
        let (_, recovery) = app.enrol_two_factor(&browser).await;

        let later = new_client();
        let back = continue_with(&app, &provider, &later, "oidc").await;
        assert_eq!(back.status(), 303);
        assert!(location(&back).starts_with("/login/two-factor"), "{}", location(&back));
        assert!(signed_in_as(&app, &later).await.is_none(), "not before the code");
        let passed = code_step(&app, &later, &recovery[0]).await;
        assert_eq!(passed.status(), 303);
        assert_eq!(email_of(&app, &later).await.as_deref(), Some("tina@example.com"));
    })
    .await;
}

backend_test!(unlinking_never_removes_the_last_way_to_sign_in);
async fn unlinking_never_removes_the_last_way_to_sign_in(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc", "github"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("12", "uma@example.com"));
        let browser = new_client();
        continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(name_organisation(&app, &browser, "Uma's").await.status(), 303);
        let uma = app.user_id("uma@example.com").await;
        // An identity at a provider the app no longer offers signs no one in.
        app.execute(&format!(
            "INSERT INTO user_identities (provider, issuer, subject, user_id, email, created_at) \
             VALUES ('gitlab', 'https://gitlab.example', '9', '{uma}', 'uma@example.com', '2026-01-01T00:00:00Z')"
        ))
        .await;

        // The provider is the only way in: it stays.
        let page = unlink(&app, &browser, "oidc").await;
        assert!(page.contains("your only way to sign in"), "{page}");
        assert_eq!(count(&app, "user_identities").await, 2);
        // Linking another asks for a password, which this account has none of.
        let (_, account) = app.page(&browser, "/account").await;
        assert!(account.contains("set a password first"), "{account}");

        // With a password, GitHub can be linked, and either can go.
        app.give_password(&browser).await;
        assert_eq!(link(&app, &provider, &browser, "github").await.status(), 303);
        let page = unlink(&app, &browser, "oidc").await;
        assert!(page.contains("Acme ID is unlinked"), "{page}");
        let page = unlink(&app, &browser, "github").await;
        assert!(page.contains("GitHub is unlinked"), "{page}");
        let page = unlink(&app, &browser, "github").await;
        assert!(page.contains("No GitHub account is linked"), "{page}");
        let subjects: Vec<String> = app
            .emails_to("uma@example.com")
            .await
            .into_iter()
            .map(|email| email.subject)
            .collect();
        for (change, method) in [
            ("Added to your", ": GitHub"),
            ("Removed from your", ": Acme ID"),
            ("Removed from your", ": GitHub"),
        ] {
            assert!(
                subjects.iter().any(|s| s.starts_with(change) && s.ends_with(method)),
                "{change} {method}: {subjects:?}"
            );
        }
    })
    .await;
}

backend_test!(linking_asks_for_the_password_and_mails_the_account);
async fn linking_asks_for_the_password_and_mails_the_account(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["github"]);
    run_on_with(backend, || options, |app| async move {
        let owner = sign_up(&app, "lea@example.com", "Lea's").await;
        provider.sign_in_as(Person::new("4242", "lea.at.github@example.com"));
        let wrong = press_link(&app, &owner, "github", "not my password").await;
        assert_eq!(wrong.status(), 422, "no round trip without the password");
        assert!(wrong.text().await.unwrap().contains("That password is not right"));
        assert_eq!(provider.served("/login/oauth/authorize"), 0);

        let linked = link(&app, &provider, &owner, "github").await;
        assert_eq!(location(&linked), "/account");
        let (_, account) = app.page(&owner, "/account").await;
        assert!(account.contains("lea.at.github@example.com"), "{account}");
        let subjects: Vec<String> = app
            .emails_to("lea@example.com")
            .await
            .into_iter()
            .map(|email| email.subject)
            .collect();
        assert!(
            subjects.iter().any(|s| s.starts_with("Added to your") && s.ends_with(": GitHub")),
            "{subjects:?}"
        );

        // GitHub stops vouching for the address: the linked account still
        // signs in (only a signup needs it).
        provider.sign_in_as(Person {
            email_verified: false,
            ..Person::new("4242", "lea.at.github@example.com")
        });
        let browser = new_client();
        let back = continue_with(&app, &provider, &browser, "github").await;
        assert_eq!(location(&back), "/app");
        assert_eq!(email_of(&app, &browser).await.as_deref(), Some("lea@example.com"));
    })
    .await;
}

backend_test!(a_declined_or_unfinished_round_trip_leaves_nothing_waiting);
async fn a_declined_or_unfinished_round_trip_leaves_nothing_waiting(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc", "github"]);
    run_on_with(backend, || options, |app| async move {
        let browser = new_client();
        // Nobody signs in at the provider: they declined.
        let back = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(back.status(), 400);
        assert!(back.text().await.unwrap().contains("allow Acme ID to sign you in"));

        // A callback without a code.
        provider.sign_in_as(Person::new("vic", "vic@example.com"));
        let start = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        let callback = at_provider(&provider, start).await;
        let code = query_value(&callback, "code");
        let without = callback.replace(&format!("code={code}&"), "");
        let back = browser.get(app.url(&without)).send().await.unwrap();
        assert_eq!(back.status(), 400);
        assert!(back.text().await.unwrap().contains("sent no code back"));

        // The organisation page without a signup waiting sends to signup.
        let (_, page) = app.page(&browser, "/login").await;
        let posted = app
            .post_form(
                &browser,
                "/signup/oauth",
                &[("csrf_token", &csrf_field(&page)), ("organisation", "Vic's")],
            )
            .await;
        assert_eq!(posted.status(), 303);
        assert_eq!(location(&posted), "/signup");

        // A signup left waiting is gone once another round trip starts.
        let back = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(location(&back), "/signup/oauth");
        provider.lie(Some(Lie::Expired));
        let refused = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(refused.status(), 400);
        assert_eq!(app.page(&browser, "/signup/oauth").await.0, 303, "nothing waits");
        assert_eq!(count(&app, "users").await, 0);

        // GitHub answers a used code with 200 and an error: refused, not "down".
        provider.lie(None);
        provider.sign_in_as(Person::new("5150", "vic@example.com"));
        let start = browser.get(app.url("/login/oauth/github")).send().await.unwrap();
        let callback = at_provider(&provider, start).await;
        assert_eq!(browser.get(app.url(&callback)).send().await.unwrap().status(), 303);
        let start = browser.get(app.url("/login/oauth/github")).send().await.unwrap();
        let fresh = at_provider(&provider, start).await;
        let replayed = fresh.replace(&query_value(&fresh, "code"), &query_value(&callback, "code"));
        let back = browser.get(app.url(&replayed)).send().await.unwrap();
        assert_eq!(back.status(), 400);
        assert!(back.text().await.unwrap().contains("refused this sign-in"));
    })
    .await;
}

backend_test!(an_identity_matches_only_at_the_issuer_it_was_linked_at);
async fn an_identity_matches_only_at_the_issuer_it_was_linked_at(backend: Backend) {
    let first = MockProvider::start().await;
    let second = MockProvider::start().await;
    let options = with(&first, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        first.sign_in_as(Person::new("same-subject", "wes@example.com"));
        let browser = new_client();
        continue_with(&app, &first, &browser, "oidc").await;
        assert_eq!(name_organisation(&app, &browser, "Wes's").await.status(), 303);

        // The operator points OIDC_ISSUER at another provider, where the
        // same subject is someone else.
        let moved = app.another_instance(with(&second, &["oidc"])).await;
        second.sign_in_as(Person::new("same-subject", "mallory@example.com"));
        let stranger = new_client();
        let back = continue_with(&moved, &second, &stranger, "oidc").await;
        assert_eq!(location(&back), "/signup/oauth", "a stranger, not Wes");
        assert!(signed_in_as(&moved, &stranger).await.is_none());
        moved.stop().await;
    })
    .await;
}

backend_test!(a_provider_that_is_down_gets_a_clear_page_and_creates_nothing);
async fn a_provider_that_is_down_gets_a_clear_page_and_creates_nothing(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("dan", "dan@example.com"));
        // Down before the round trip: discovery fails.
        provider.set_down(true);
        let browser = new_client();
        let start = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        assert_eq!(start.status(), 502);
        assert!(start.text().await.unwrap().contains("Acme ID can&#39;t be reached right now"));

        // Down half-way: the code can't be traded.
        provider.set_down(false);
        let start = browser.get(app.url("/login/oauth/oidc")).send().await.unwrap();
        let callback = at_provider(&provider, start).await;
        provider.set_down(true);
        let back = browser.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(back.status(), 502);
        assert!(back.text().await.unwrap().contains("be reached right now"));
        assert_eq!(count(&app, "users").await, 0);
        assert!(signed_in_as(&app, &browser).await.is_none());
    })
    .await;
}

backend_test!(rotated_keys_and_an_address_only_at_userinfo_still_sign_in);
async fn rotated_keys_and_an_address_only_at_userinfo_still_sign_in(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        provider.sign_in_as(Person::new("rui", "rui@example.com"));
        provider.email_only_at_userinfo();
        let browser = new_client();
        let back = continue_with(&app, &provider, &browser, "oidc").await;
        assert_eq!(location(&back), "/signup/oauth", "the address came from userinfo");
        assert_eq!(name_organisation(&app, &browser, "Rui's").await.status(), 303);

        // The provider rotates its key: the app fetches the new set once.
        let fetched = provider.served("/jwks");
        provider.rotate_key();
        let later = new_client();
        let back = continue_with(&app, &provider, &later, "oidc").await;
        assert_eq!(location(&back), "/app");
        assert_eq!(provider.served("/jwks"), fetched + 1);
    })
    .await;
}

backend_test!(going_to_the_provider_is_rate_limited_per_address);
async fn going_to_the_provider_is_rate_limited_per_address(backend: Backend) {
    let provider = MockProvider::start().await;
    let options = with(&provider, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        let mut statuses = Vec::new();
        for _ in 0..31 {
            let response = new_client().get(app.url("/login/oauth/oidc")).send().await.unwrap();
            statuses.push(response.status().as_u16());
        }
        assert!(statuses[..30].iter().all(|status| *status == 303), "{statuses:?}");
        assert_eq!(statuses[30], 429);
        let callback = new_client()
            .get(app.url("/login/oauth/oidc/callback?code=x&state=y"))
            .send()
            .await
            .unwrap();
        assert_eq!(callback.status(), 429, "the way back counts too");
        let browser = new_client();
        let (_, page) = app.page(&browser, "/login").await;
        let token = csrf_field(&page);
        let mut statuses = Vec::new();
        for _ in 0..21 {
            let posted = app
                .post_form(&browser, "/signup/oauth", &[("csrf_token", &token), ("organisation", "X")])
                .await;
            statuses.push(posted.status().as_u16());
        }
        assert_eq!(statuses[20], 429, "finishing a signup counts as signing up: {statuses:?}");
    })
    .await;
}
