//! National ids at rest: encrypted by the app, found by their blind index,
//! and moved onto a new key by `rotate-keys` while requests keep writing.

use app::db::Backend;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use app::sealed_columns;
use app::crypto::sealed::rotate;
use app::crypto::{Keys, LookupKey};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use app::on_backend;

use crate::fixtures::TenantFixture;
use crate::support::{LOOKUP_KEY as LOOKUP, Options, TestApp, backend_test, run_on_with};

const OLD: [u8; 32] = [1; 32];
const NEW: [u8; 32] = [2; 32];

/// Every employee's stored national id column, by employee id.
async fn stored(app: &TestApp) -> HashMap<String, String> {
    let sql = "SELECT CAST(id AS TEXT), national_id FROM employees";
    let rows: Vec<(String, String)> =
        on_backend!(&app.db, |pool| sqlx::query_as(sql).fetch_all(pool).await).unwrap();
    rows.into_iter().collect()
}

/// Sets an employee's national id as the owner signed in on `owner`.
async fn set_national_id(
    app: &TestApp,
    owner: &reqwest::Client,
    slug: &str,
    id: &str,
    national_id: &str,
) -> u16 {
    owner
        .patch(app.url(&format!("/api/v1/t/{slug}/employees/{id}")))
        .json(&json!({"national_id": national_id}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn employees(app: &TestApp, f: &TenantFixture, query: &str) -> Vec<Value> {
    let response = app
        .client_for(f.owner)
        .await
        .get(app.url(&format!("/api/v1/t/{}/employees{query}", f.slug)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

backend_test!(national_ids_are_encrypted_and_found_by_their_blind_index);
async fn national_ids_are_encrypted_and_found_by_their_blind_index(backend: Backend) {
    run_on_with(
        backend,
        || Options::with_keys(&[OLD]),
        |app| async move {
            let f = TenantFixture::create(&app.db, "cafe").await;
            let other = TenantFixture::create(&app.db, "deli").await;
            let maria = super::hire(&app, &f, "Maria", 0).await;
            let juan = super::hire(&app, &other, "Juan", 0).await;
            let (owner, other_owner) = (
                app.client_for(f.owner).await,
                app.client_for(other.owner).await,
            );
            assert_eq!(
                set_national_id(&app, &owner, "cafe", &maria.id, "12345678Z").await,
                200
            );
            assert_eq!(
                set_national_id(&app, &other_owner, "deli", &juan.id, "12345678Z").await,
                200
            );

            let columns = stored(&app).await;
            let fingerprint = Keys::new(&[OLD]).newest_fingerprint().to_owned();
            for value in columns.values() {
                assert!(
                    !value.contains("12345678"),
                    "no plaintext in the database: {value}"
                );
                assert!(value.starts_with(&format!("v1.{fingerprint}.")), "{value}");
            }
            assert_ne!(
                columns[&maria.id], columns[&juan.id],
                "a fresh nonce each time"
            );

            let found = employees(&app, &f, "?national_id=12.345.678-z").await;
            assert_eq!(found.len(), 1, "however it is written, in this tenant only");
            assert_eq!(found[0]["id"], maria.id.as_str());
            assert_eq!(
                found[0]["national_id"], "12345678Z",
                "decrypted for the API"
            );
            assert!(
                employees(&app, &f, "?national_id=87654321X")
                    .await
                    .is_empty()
            );

            // A ciphertext copied onto another employee doesn't decrypt.
            let ana = super::hire(&app, &f, "Ana", 0).await;
            app.execute(&format!(
                "UPDATE employees SET national_id = '{}' WHERE id = '{}'",
                columns[&maria.id], ana.id
            ))
            .await;
            let response = owner
                .get(app.url(&format!("/api/v1/t/cafe/employees/{}", ana.id)))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 500, "refused, not shown as another's id");
        },
    )
    .await;
}

backend_test!(rotation_while_requests_keep_writing_leaves_nothing_under_the_old_key);
async fn rotation_while_requests_keep_writing_leaves_nothing_under_the_old_key(backend: Backend) {
    run_on_with(
        backend,
        || Options::with_keys(&[OLD]),
        |app| async move {
            let f = TenantFixture::create(&app.db, "cafe").await;
            let owner = app.client_for(f.owner).await;
            let mut ids = Vec::new();
            for n in 0..12 {
                let hired = super::hire(&app, &f, &format!("Worker{n}"), 0).await;
                let status =
                    set_national_id(&app, &owner, "cafe", &hired.id, &format!("X{n:07}")).await;
                assert_eq!(status, 200);
                ids.push(hired.id);
            }
            // Deployed with the new key first; the old one still decrypts.
            let rotated = app.another_instance(Options::with_keys(&[NEW, OLD])).await;
            let latest: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(
                ids.iter()
                    .enumerate()
                    .map(|(n, id)| (id.clone(), format!("X{n:07}")))
                    .collect(),
            ));
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (rotated, ids) = (rotated.clone(), ids.clone());
                let (latest, stop) = (latest.clone(), stop.clone());
                let owner = rotated.client_for(f.owner).await;
                tokio::spawn(async move {
                    let mut round = 0;
                    while !stop.load(Ordering::Relaxed) || round < ids.len() {
                        let id = &ids[round % ids.len()];
                        let value = format!("W{round:07}");
                        let status = set_national_id(&rotated, &owner, "cafe", id, &value).await;
                        assert_eq!(status, 200);
                        latest.lock().await.insert(id.clone(), value);
                        round += 1;
                    }
                    round
                })
            };
            let keys = Keys::new(&[NEW, OLD]);
            let rotation = rotate(
                &app.db,
                &keys,
                &LookupKey::new(&LOOKUP),
                &sealed_columns(),
                3,
            )
            .await
            .expect("rotation");
            stop.store(true, Ordering::Relaxed);
            let writes = writer.await.expect("the writer ran");
            assert!(writes >= ids.len(), "requests kept writing: {writes}");
            assert_eq!(rotation.remaining, 0, "{rotation:?}");

            let fingerprint = keys.newest_fingerprint().to_owned();
            for (id, value) in stored(&app).await {
                assert!(
                    value.starts_with(&format!("v1.{fingerprint}.")),
                    "{id} is under the new key: {value}"
                );
            }
            // Only the new key is needed now: every value still decrypts,
            // to what was written last.
            let after = app.another_instance(Options::with_keys(&[NEW])).await;
            let latest = latest.lock().await.clone();
            for employee in employees(&after, &f, "").await {
                let id = employee["id"].as_str().unwrap();
                assert_eq!(employee["national_id"], latest[id].as_str(), "{id}");
            }
            let (n, value) = latest
                .iter()
                .next()
                .map(|(id, v)| (id.clone(), v.clone()))
                .unwrap();
            let found = employees(&after, &f, &format!("?national_id={value}")).await;
            assert_eq!(found[0]["id"], n.as_str(), "the blind index still finds it");
            // Nothing left: a second run rewrites nothing.
            let again = rotate(
                &app.db,
                &Keys::new(&[NEW]),
                &LookupKey::new(&LOOKUP),
                &sealed_columns(),
                3,
            )
            .await
            .expect("second rotation");
            assert!(again.rewritten.iter().all(|(_, n)| *n == 0), "{again:?}");
            for instance in [rotated, after] {
                instance.stop().await;
            }
        },
    )
    .await;
}
