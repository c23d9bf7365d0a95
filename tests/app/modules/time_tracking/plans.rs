//! The module's part in the plans (src/plans.rs): a quota (active
//! employees, which Free limits) and a feature (the payroll workbook, from
//! Pro), both answered by `billing::entitlement`. On both databases.

use app::db::Backend;
use serde_json::Value;

use super::hire;
use crate::fixtures::TenantFixture;
use crate::support::{backend_test, run_on};

backend_test!(free_limits_active_employees_and_leaves_the_workbook_to_pro);
async fn free_limits_active_employees_and_leaves_the_workbook_to_pro(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        app.execute("UPDATE tenants SET comped = false").await;
        let owner = app.client_for(f.owner).await;
        for n in 0..10 {
            hire(&app, &f, &format!("Staff{n}"), 0).await;
        }
        let eleventh = owner
            .post(app.url("/api/v1/t/cafe/employees"))
            .json(&serde_json::json!({
                "name": "Eleven", "employee_number": "E-11", "hire_date": "2026-01-05",
                "weekly_minutes": 2400, "location_ids": [f.locations[0]],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(eleventh.status(), 403);
        let body: Value = eleventh.json().await.unwrap();
        assert_eq!(body["error"]["code"], "plan_limit");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("The Free plan allows 10 active employees"),
            "{message}"
        );
        let status = app.get_json(&owner, "/api/v1/t/cafe/billing").await;
        assert_eq!(
            (
                &status["usage"]["active_employees"]["used"],
                &status["usage"]["active_employees"]["limit"]
            ),
            (&serde_json::json!(10), &serde_json::json!(10))
        );

        let xlsx = |client: reqwest::Client| {
            let url = app.url("/api/v1/t/cafe/payroll.xlsx?month=2026-10");
            async move { client.get(url).send().await.unwrap() }
        };
        let refused = xlsx(owner.clone()).await;
        assert_eq!(refused.status(), 403);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "plan_limit");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("The payroll workbook (.xlsx) is not part of the Free plan"),
            "{body}"
        );
        let csv = owner
            .get(app.url("/api/v1/t/cafe/payroll.csv?month=2026-10"))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), 200, "the CSV is every plan's");

        app.execute(
            "UPDATE tenants SET subscription_status = 'active', subscription_plan = 'starter'",
        )
        .await;
        assert_eq!(xlsx(owner.clone()).await.status(), 403, "nor Starter's");
        hire(&app, &f, "Eleven", 0).await;
        app.execute("UPDATE tenants SET subscription_plan = 'pro'").await;
        assert_eq!(xlsx(owner.clone()).await.status(), 200, "Pro's");
    })
    .await;
}
