//! The kiosk's offline flow in a real browser: headless Chromium (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs) driven over
//! WebDriver, with a TCP proxy between the browser and the app that the
//! test takes down and brings back. DevTools' offline emulation doesn't
//! reach the service worker, so it would prove nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::hire;
use crate::accounts::count;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, each_backend, running_in_ci};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A TCP proxy to the app that can be taken down (its port closed and its
/// connections cut, as when a bar's Wi-Fi drops) and brought back.
struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    running: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            address: free.local_addr().unwrap(),
            target,
            running: Mutex::new(None),
        };
        drop(free);
        proxy.up().await;
        proxy
    }

    async fn up(&self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("the proxy's port");
        let target = self.target;
        let accepting = tokio::spawn(async move {
            // Dropped with this task: aborting it cuts every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.running.lock().unwrap() = Some(accepting);
    }

    fn down(&self) {
        if let Some(accepting) = self.running.lock().unwrap().take() {
            accepting.abort();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// Headless Chromium through chromedriver, in a fresh profile.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (the test is skipped, with a note) where Chromium isn't
    /// installed; under `CI=true` that is a failure.
    async fn launch() -> Option<Self> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                !running_in_ci(),
                "CI=true and {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: the browser test needs {CHROMIUM} and {CHROMEDRIVER}");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..50 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.as_object().unwrap().clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver never answered: {last_error:?}");
    }

    /// Runs `script` (an async function body that may `await`) in the page,
    /// and answers what it returns.
    async fn run(&self, script: &str) -> Value {
        let wrapped = format!(
            "const done = arguments[arguments.length - 1];\
             (async () => {{ {script} }})().then(done, (e) => done({{ error: String(e) }}));"
        );
        self.client
            .execute_async(&wrapped, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Waits (up to 20 s) until `condition`, a JavaScript expression, holds.
    async fn wait_until(&self, condition: &str) {
        for _ in 0..200 {
            if self.run(&format!("return Boolean({condition});")).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = self.client.source().await.unwrap_or_default();
        panic!("never true: {condition}\n{page}");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clock in with `pin` through the screen, as a person does.
    async fn clock_in(&self, pin: &str) {
        self.click("[data-kind=in]").await;
        for digit in pin.chars() {
            self.click(&format!("[data-digit='{digit}']")).await;
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn pairing_code(app: &TestApp, f: &TenantFixture) -> String {
    let owner = app.client_for(f.owner).await;
    let created: Value = owner
        .post(app.url(&format!("/api/v1/t/{}/kiosks", f.slug)))
        .json(&json!({"location_id": f.locations[0], "name": "Bar tablet"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["pairing_code"].as_str().unwrap().to_owned()
}

const PUNCHES: usize = 3;

#[tokio::test]
async fn punches_made_offline_survive_a_reload_and_sync_exactly_once() {
    each_backend(|app| async move {
        let Some(browser) = Browser::launch().await else {
            return;
        };
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let code = pairing_code(&app, &f).await;
        let target: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
        let proxy = Proxy::start(target).await;

        // Paired, and the service worker in control, while online.
        browser
            .client
            .goto(&proxy.url(&format!("/kiosk#pair={code}")))
            .await
            .unwrap();
        browser
            .wait_until("!document.getElementById('choose').hidden")
            .await;
        browser
            .run("await navigator.serviceWorker.ready; return true;")
            .await;
        browser
            .wait_until("navigator.serviceWorker.controller")
            .await;
        browser
            .wait_until("document.getElementById('location').textContent.includes('Bar tablet')")
            .await;

        // The Wi-Fi drops: punches are kept on the tablet.
        proxy.down();
        let reach = "try { await fetch('/kiosk/version', {cache: 'no-store'}); return 'online'; } \
                     catch { return 'offline'; }";
        assert_eq!(
            browser.run(reach).await,
            json!("offline"),
            "the proxy is down"
        );
        for n in 1..=PUNCHES {
            browser.clock_in(&maria.pin).await;
            browser
                .wait_until(&format!(
                    "document.getElementById('pending').textContent === '{n} waiting to sync'"
                ))
                .await;
        }
        browser
            .wait_until("document.getElementById('feedback').textContent.includes('will sync')")
            .await;
        assert_eq!(
            count(&app, "punches").await,
            0,
            "nothing reached the server"
        );

        // A reload with no network: the cached shell opens, the queue is there.
        browser.client.goto(&proxy.url("/kiosk")).await.unwrap();
        browser
            .wait_until(&format!(
                "document.getElementById('pending').textContent === '{PUNCHES} waiting to sync'"
            ))
            .await;

        // The network is back: the queue drains, each punch once.
        proxy.up().await;
        browser
            .run("window.dispatchEvent(new Event('online')); return true;")
            .await;
        browser
            .wait_until("document.getElementById('pending').hidden")
            .await;
        assert_eq!(count(&app, "punches").await, PUNCHES as i64);

        // Every punch sent again: the server answers as before, and records nothing new.
        let replayed = browser.run("return await window.kiosk.replaySent();").await;
        assert_eq!(replayed, json!(PUNCHES));
        assert_eq!(count(&app, "punches").await, PUNCHES as i64);

        browser.close().await;
        proxy.down();
    })
    .await;
}

#[tokio::test]
async fn the_kiosk_is_an_installable_app_that_can_tell_its_version() {
    each_backend(|app| async move {
        let shell = app.get("/kiosk").await;
        assert_eq!(shell.status(), 200);
        let html = shell.text().await.unwrap();
        let version: Value = app.get("/kiosk/version").await.json().await.unwrap();
        let version = version["version"].as_str().unwrap();
        assert!(
            html.contains(&format!(
                r#"<meta name="kiosk-version" content="{version}">"#
            )),
            "the page carries the version it checks against: {html}"
        );
        assert!(html.contains(r#"<link rel="manifest" href="/kiosk/manifest.webmanifest">"#));

        let worker = app.get("/kiosk/sw.js").await;
        assert_eq!(worker.headers()["service-worker-allowed"], "/kiosk");
        assert_eq!(
            worker.headers()["cache-control"],
            "no-cache",
            "a new deploy is never hidden"
        );
        assert!(
            worker
                .text()
                .await
                .unwrap()
                .contains("addEventListener(\"fetch\"")
        );

        let manifest: Value = app
            .get("/kiosk/manifest.webmanifest")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (manifest["start_url"].as_str(), manifest["scope"].as_str()),
            (Some("/kiosk"), Some("/kiosk"))
        );
    })
    .await;
}
