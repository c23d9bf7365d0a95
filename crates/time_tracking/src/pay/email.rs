//! The module's scheduled jobs ([`kernel::jobs::scheduled`]), both on the 1st
//! of each month on the tenant's clock:
//! * `payroll_email`: last month's payroll workbook to the accountant's
//!   address, if one is set, the plan includes the workbook and there is
//!   anything to pay;
//! * `forecast_email`: the month's labour-cost forecast to the owners.
//!
//! Each email is handed to SMTP through [`Run::once`]: a run retried after a
//! crash never sends it twice.

use askama::Template;
use serde::{Deserialize, Serialize};

use super::pages::money;
use super::{forecast, payroll, workbook};
use crate::SettingsId;
use crate::pages::Month;
use kernel::accounts::email::Email;
use kernel::error::AppError;
use kernel::jobs::scheduled::{self, Run, RunFuture, Schedule};
use kernel::mail::transport::Attachment;
use kernel::mail::{Mail, render};
use kernel::tenancy::permissions::LocationVisibility;
use kernel::tenancy::{Intent, Role, TenantScope, for_tenant};
use kernel::{on_tx, text_body};

pub const SCHEDULES: [Schedule; 2] = [
    Schedule {
        name: "payroll_email",
        due: scheduled::month_before_on_the_first,
        run: payroll_email,
    },
    Schedule {
        name: "forecast_email",
        due: scheduled::month_begun_on_the_first,
        run: forecast_email,
    },
];

/// Where the payroll goes each month, as the API shows and takes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayrollEmail {
    /// `null`: the workbook isn't emailed.
    pub accountant_email: Option<String>,
}

/// The tenant's accountant address.
pub async fn accountant(scope: &mut TenantScope) -> Result<PayrollEmail, sqlx::Error> {
    let tenant = scope.tenant_id();
    let email: Option<Option<String>> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT accountant_email FROM time_tracking_settings WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await)?;
    Ok(PayrollEmail {
        accountant_email: email.flatten(),
    })
}

/// Sets (or, with `None` or "", clears) the accountant address.
///
/// # Errors
/// 422 for something that isn't an email address.
pub async fn set_accountant(
    scope: &mut TenantScope,
    input: &PayrollEmail,
) -> Result<PayrollEmail, AppError> {
    let email = match input.accountant_email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            Email::parse(text)
                .map_err(|problem| AppError::Unprocessable(format!("accountant_email: {problem}")))?
                .as_str()
                .to_owned(),
        ),
    };
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO time_tracking_settings (tenant_id, id, accountant_email) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO UPDATE SET accountant_email = excluded.accountant_email"
    )
    .bind(tenant)
    .bind(SettingsId::new())
    .bind(&email)
    .execute(conn)
    .await
    .map(drop))?;
    Ok(PayrollEmail {
        accountant_email: email,
    })
}

async fn tenant_name(scope: &mut TenantScope) -> Result<String, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT name FROM tenants WHERE id = $1"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)
}

#[derive(Template)]
#[template(path = "time_tracking/mail_payroll.html")]
struct PayrollMail {
    app_name: &'static str,
    tenant_name: String,
    month: String,
    employees: usize,
    total: String,
}

text_body!(PayrollMail, "time_tracking/mail_payroll.txt");

impl Mail for PayrollMail {
    fn subject(&self) -> String {
        format!("Payroll {} — {}", self.month, self.tenant_name)
    }
}

fn payroll_email(run: &Run) -> RunFuture<'_> {
    Box::pin(async move {
        let month = Month::parse(Some(&run.period)).ok_or("the period is a month")?;
        let mut scope = for_tenant(&run.state.db, run.tenant, Intent::Read).await?;
        let Some(to) = accountant(&mut scope).await?.accountant_email else {
            return Ok(());
        };
        // The workbook is a plan's feature, emailed or downloaded.
        let billing = kernel::billing::state::current_state(&mut scope).await?;
        let now = time::OffsetDateTime::now_utc();
        if !kernel::billing::entitlement(run.state.plans, &billing, now)
            .allows(&workbook::PAYROLL_WORKBOOK)
        {
            return Ok(());
        }
        let keys = run.state.keys()?;
        let payroll = payroll::compute(&mut scope, keys, month.first, month.last).await?;
        if payroll.summary.is_empty() {
            return Ok(());
        }
        let mail = PayrollMail {
            app_name: kernel::brand::APP_NAME,
            tenant_name: tenant_name(&mut scope).await?,
            month: month.label.clone(),
            employees: payroll.summary.len(),
            total: money(payroll.total.gross_cents, payroll.currency),
        };
        drop(scope);
        let mut email = render(&Email::parse(&to)?, &mail)?;
        email.attachments.push(Attachment {
            filename: format!("payroll-{}.xlsx", month.key),
            content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                .to_owned(),
            content: workbook::xlsx(&payroll)?,
        });
        run.once("email", run.state.mailer.deliver(&email)).await?;
        Ok(())
    })
}

#[derive(Template)]
#[template(path = "time_tracking/mail_forecast.html")]
struct ForecastMail {
    app_name: &'static str,
    tenant_name: String,
    month: String,
    /// (location, working days, expected cost)
    locations: Vec<(String, u32, String)>,
    total: String,
}

text_body!(ForecastMail, "time_tracking/mail_forecast.txt");

impl Mail for ForecastMail {
    fn subject(&self) -> String {
        format!("{}: labour forecast for {}", self.tenant_name, self.month)
    }
}

fn forecast_email(run: &Run) -> RunFuture<'_> {
    Box::pin(async move {
        let month = Month::parse(Some(&run.period)).ok_or("the period is a month")?;
        let mut scope = for_tenant(&run.state.db, run.tenant, Intent::Read).await?;
        let forecast = forecast::compute(
            &mut scope,
            LocationVisibility::every_location(),
            month.first,
            month.last,
        )
        .await?;
        if forecast.locations.is_empty() {
            return Ok(());
        }
        let owners: Vec<String> = kernel::members::list(&mut scope)
            .await?
            .into_iter()
            .filter(|m| m.role == Role::Owner)
            .map(|m| m.email)
            .collect();
        let (locations, total) = forecast.labelled();
        let mail = ForecastMail {
            app_name: kernel::brand::APP_NAME,
            tenant_name: tenant_name(&mut scope).await?,
            month: month.label.clone(),
            total,
            locations,
        };
        drop(scope);
        for owner in owners {
            let email = render(&Email::parse(&owner)?, &mail)?;
            run.once(&format!("email:{owner}"), run.state.mailer.deliver(&email))
                .await?;
        }
        Ok(())
    })
}
