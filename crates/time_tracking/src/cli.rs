//! The module's subcommands of the app's command line: `verify-log` and
//! `seed-demo`.

use clap::{FromArgMatches, Subcommand};

use super::log;
use kernel::capability::{CommandContext, CommandRun, Commands};
use kernel::db::Db;
use kernel::tenancy::global::{all_tenant_ids, tenant_id_by_slug};
use kernel::tenancy::scope::{Intent, for_tenant};

#[derive(Subcommand)]
pub enum Command {
    /// Recompute each tenant's tamper-evident time log (or one tenant's)
    /// and name the first broken entry; exits with 1 if any is broken.
    VerifyLog {
        /// Only this tenant (its URL slug).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Create a demo tenant to look around in: a café group with five
    /// locations, 50 employees and two months of shifts (with overnight
    /// ones, a few anomalies and edits), comped onto the top plan. Runs once.
    SeedDemo {
        /// The demo owner's email, to sign in with.
        #[arg(long, default_value = "demo@example.com")]
        email: String,
        /// Their password (default: a generated one, printed at the end).
        #[arg(long)]
        password: Option<String>,
    },
}

pub const COMMANDS: Commands = Commands {
    augment: Command::augment_subcommands,
    has: Command::has_subcommand,
    run,
};

fn run(context: CommandContext, matches: clap::ArgMatches) -> CommandRun {
    Box::pin(async move {
        match Command::from_arg_matches(&matches)? {
            Command::VerifyLog { tenant } => verify_log(&context.db, tenant.as_deref()).await,
            Command::SeedDemo { email, password } => {
                let seeded = super::demo::seed(&context, &email, password).await?;
                println!("{seeded}");
                Ok(())
            }
        }
    })
}

async fn verify_log(
    db: &Db,
    slug: Option<&str>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tenants = match slug {
        Some(slug) => vec![
            tenant_id_by_slug(db, slug)
                .await?
                .ok_or_else(|| format!("no tenant has the slug {slug:?}"))?,
        ],
        None => all_tenant_ids(db).await?,
    };
    let mut broken = 0;
    for tenant in tenants {
        let mut scope = for_tenant(db, tenant, Intent::Read).await?;
        let verification = log::verify(&mut scope).await?;
        match verification.first_broken {
            None => println!("tenant {tenant}: {} entries, intact", verification.entries),
            Some(first) => {
                broken += 1;
                let at = first
                    .seq
                    .map_or_else(String::new, |seq| format!("entry #{seq}: "));
                println!("tenant {tenant}: BROKEN at {at}{}", first.problem);
            }
        }
    }
    if broken > 0 {
        return Err(format!("the time log of {broken} tenant(s) is broken").into());
    }
    Ok(())
}
