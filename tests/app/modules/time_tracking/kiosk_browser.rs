//! The kiosk's offline flow in a real browser (`crate::browser`), with a
//! TCP proxy between the browser and the app that the
//! test takes down and brings back. DevTools' offline emulation doesn't
//! reach the service worker, so it would prove nothing.

use app::db::Backend;
use std::net::SocketAddr;
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::hire;
use crate::accounts::count;
use crate::browser::Browser;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, run_on};

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

/// Clock in with `pin` through the screen, as a person does.
async fn clock_in(browser: &Browser, pin: &str) {
    browser.click("[data-kind=in]").await;
    for digit in pin.chars() {
        browser.click(&format!("[data-digit='{digit}']")).await;
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

backend_test!(punches_made_offline_survive_a_reload_and_sync_exactly_once);
async fn punches_made_offline_survive_a_reload_and_sync_exactly_once(backend: Backend) {
    run_on(backend, |app| async move {
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
            clock_in(&browser, &maria.pin).await;
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

backend_test!(the_kiosk_is_an_installable_app_that_can_tell_its_version);
async fn the_kiosk_is_an_installable_app_that_can_tell_its_version(backend: Backend) {
    run_on(backend, |app| async move {
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
