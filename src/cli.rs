//! The command line: `serve` (the default), `migrate`, `tenants`,
//! `create-superadmin`, `citus-distribute`, `stripe-sync`, `rotate-keys`,
//! `export-tenant`, `import-tenant` and `healthcheck`, and the modules' own
//! subcommands (`crate::modules`). Start-up problems end the
//! process with one line naming the cause, never a backtrace.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

use crate::accounts::email::Email;
use crate::capability::{CommandContext, Commands};
use crate::config::{Config, ConfigError};
use crate::db::{self, Db};
use crate::http::Server;
use crate::jobs;
use crate::telemetry;
use crate::tenancy::scope::{Intent, ScopeError};
use crate::tenancy::super_admin::{SuperAdmin, all_tenants_unsafe};

#[derive(Parser)]
#[command(version, about = crate::brand::APP_NAME)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve HTTP (the default).
    Serve,
    /// Apply migrations and exit (for a release phase).
    Migrate,
    /// List every tenant with its members and locations (an operator's
    /// look across tenants: recorded in the super-admin audit log).
    Tenants {
        /// Why you are looking, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Make the user with this email a super-admin (the only way to: no web
    /// page grants it). The user must have signed up first.
    CreateSuperadmin { email: String },
    /// On a Citus coordinator, after `migrate`: distribute every
    /// tenant-owned table on tenant_id (co-located) and make the global
    /// tables they reference reference tables. Safe to run twice.
    CitusDistribute,
    /// Re-encrypt every encrypted value (two-factor secrets, personal data)
    /// under the first key of ENCRYPTION_KEYS, in batches, while the app
    /// keeps serving. Resumable: run it again after an interruption. Once
    /// it reports nothing left, the older keys can be removed.
    RotateKeys {
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
    },
    /// Write one organisation's data to an archive (a zip of JSON Lines
    /// with a manifest of row counts and checksums). It holds personal data
    /// in plaintext: keep it safe.
    ExportTenant {
        /// The organisation's URL slug.
        slug: String,
        /// The archive to write.
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Restore an organisation from an archive written by export-tenant,
    /// into an empty database or alongside others. Refuses a damaged,
    /// foreign or newer archive (and an organisation that exists) with
    /// nothing written.
    ImportTenant {
        /// The archive to read.
        file: std::path::PathBuf,
        /// The archive was exported by another installation (another
        /// LOOKUP_KEY), so its signature can't be checked here: import it
        /// on your word, having checked where it comes from (docs/tenancy.md).
        #[arg(long)]
        from_another_installation: bool,
    },
    /// Make Stripe's products, prices and Customer Portal configuration
    /// say what src/plans.rs says (STRIPE_SECRET_KEY: test mode first).
    /// Prints each change; a second run changes nothing. Never deletes:
    /// a replaced price is archived, and its subscriptions keep it.
    StripeSync,
    /// Exit 0 if the app on this machine's PORT answers /healthz with 200
    /// (for Docker's HEALTHCHECK: the runtime image has no curl).
    Healthcheck,
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot connect to the database (DATABASE_URL): {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Isolation(#[from] crate::tenancy::ScopeError),
    #[error("{0}")]
    Citus(#[from] db::citus::CitusError),
    #[error("cannot listen on {address} (HOST, PORT): {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("unhealthy: {0}")]
    Unhealthy(String),
    #[error("{0}")]
    Usage(String),
    /// The plans can't be sold as defined, or a setting names a price no
    /// plan has.
    #[error("{0}")]
    Plans(String),
    #[error("{0}")]
    Capability(Box<dyn std::error::Error + Send + Sync>),
}

/// What the command line asked for.
enum Asked {
    Core(Command),
    Capability(&'static Commands, clap::ArgMatches),
}

pub fn main() -> ExitCode {
    let commands: Vec<&'static Commands> = crate::all()
        .filter_map(|capability| capability.commands.as_ref())
        .collect();
    let command = commands.iter().fold(Cli::command(), |command, commands| {
        (commands.augment)(command)
    });
    let matches = command.get_matches();
    let theirs = commands.into_iter().find(|commands| {
        matches
            .subcommand_name()
            .is_some_and(|name| (commands.has)(name))
    });
    let asked = match theirs {
        Some(commands) => Asked::Capability(commands, matches),
        None => match Cli::from_arg_matches(&matches) {
            Ok(cli) => Asked::Core(cli.command.unwrap_or(Command::Serve)),
            Err(error) => error.exit(),
        },
    };
    // A missing .env is normal (production sets real variables); values
    // already in the environment win over the file.
    let _ = dotenvy::dotenv();
    match run(asked) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(asked: Asked) -> Result<(), StartupError> {
    let config = Config::from_env()?;
    let command = match asked {
        Asked::Core(Command::Healthcheck) => return healthcheck(config.port),
        Asked::Core(Command::StripeSync) => return stripe_sync(&config),
        Asked::Core(command) => command,
        Asked::Capability(commands, matches) => return run_capability(&config, commands, matches),
    };
    telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new().map_err(StartupError::Runtime)?;
    runtime.block_on(async {
        let db = match command {
            // Schema work opens no tenant scope: an operator may run it as
            // a superuser, which a Citus app may not serve as.
            Command::Migrate | Command::CitusDistribute => {
                connect_and_migrate_only(&config).await?
            }
            _ => connect_and_migrate(&config).await?,
        };
        match command {
            Command::Migrate => {
                tracing::info!(backend = db.backend().name(), "migrations applied");
            }
            Command::Tenants { reason } => print_tenants(&db, &reason).await?,
            Command::CreateSuperadmin { email } => create_superadmin(&db, &email).await?,
            Command::CitusDistribute => {
                for step in db::citus::distribute(&db).await? {
                    println!("{step}");
                }
            }
            Command::RotateKeys { batch } => rotate_keys(&db, &config, batch).await?,
            Command::ExportTenant { slug, output } => {
                export_tenant(&db, &config, &slug, &output).await?;
            }
            Command::ImportTenant {
                file,
                from_another_installation,
            } => import_tenant(&db, &config, &file, from_another_installation).await?,
            Command::Serve => return serve(db, config).await,
            Command::Healthcheck | Command::StripeSync => {
                unreachable!("answered before the database is reached")
            }
        }
        db.close().await;
        Ok(())
    })
}

fn run_capability(
    config: &Config,
    commands: &Commands,
    matches: clap::ArgMatches,
) -> Result<(), StartupError> {
    telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new().map_err(StartupError::Runtime)?;
    runtime.block_on(async {
        let db = connect_and_migrate(config).await?;
        let context = CommandContext {
            db: db.clone(),
            config: config.clone(),
            operator: SuperAdmin::for_cli(),
        };
        let ran = (commands.run)(context, matches).await;
        db.close().await;
        ran.map_err(StartupError::Capability)
    })
}

/// `stripe-sync`: needs Stripe and the plans, not the database.
fn stripe_sync(config: &Config) -> Result<(), StartupError> {
    let plans = crate::catalog().map_err(StartupError::Plans)?;
    let stripe = crate::billing::stripe::Stripe::from_config(&config.stripe)
        .map_err(|error| StartupError::Usage(format!("cannot reach Stripe: {error}")))?
        .ok_or_else(|| {
            StartupError::Usage(
                "set STRIPE_SECRET_KEY (a test-mode key first: docs/billing.md)".to_owned(),
            )
        })?;
    let runtime = tokio::runtime::Runtime::new().map_err(StartupError::Runtime)?;
    let mut changes = 0;
    let return_url = format!("{}/", config.base_url.trim_end_matches('/'));
    let synced = runtime.block_on(crate::billing::stripe_sync::sync(
        &stripe,
        plans,
        &return_url,
        &mut |change| {
            changes += 1;
            println!("{change}");
        },
    ));
    synced.map_err(|error| StartupError::Usage(format!("stripe-sync stopped: {error}")))?;
    if changes == 0 {
        println!("Stripe already sells what src/plans.rs says: nothing changed.");
    }
    Ok(())
}

/// Connects, applies pending migrations (first start creates everything) and
/// checks that Row-Level Security will bind tenant scopes.
///
/// # Errors
/// When the database can't be reached, a migration fails, or the role tenant
/// scopes run as could bypass Row-Level Security.
pub async fn connect_and_migrate(config: &Config) -> Result<Db, StartupError> {
    if config.warns_about_sqlite_in_production() {
        tracing::warn!(
            "APP_ENV=production with a SQLite DATABASE_URL: a container's disk is usually thrown away on \
             redeploy, and every tenant's data with it. Use PostgreSQL, or mount a persistent volume and \
             set ALLOW_SQLITE_IN_PRODUCTION=true to say you did."
        );
    }
    let db = connect_and_migrate_only(config).await?;
    db::scope_role::check_isolation(&db)
        .await
        .map_err(crate::tenancy::ScopeError::from)?;
    Ok(db)
}

/// As [`connect_and_migrate`], without the check of the role tenant scopes
/// run as (a scope still makes it before it opens).
async fn connect_and_migrate_only(config: &Config) -> Result<Db, StartupError> {
    let db = Db::connect(&config.database_url, config.database_pool_size)
        .await
        .map_err(StartupError::Connect)?;
    db::migrate(&db).await?;
    Ok(db)
}

/// The configured keys (generated in development), or why not.
fn keys(config: &Config) -> Result<(crate::crypto::Keys, crate::crypto::LookupKey), StartupError> {
    let failed =
        |error: std::io::Error| StartupError::Usage(format!("cannot read the keys: {error}"));
    let keys = crate::crypto::Keys::load(config)
        .map_err(failed)?
        .ok_or_else(|| StartupError::Usage("set ENCRYPTION_KEYS (see the README)".to_owned()))?;
    let lookup = crate::crypto::LookupKey::load(config)
        .map_err(failed)?
        .ok_or_else(|| StartupError::Usage("set LOOKUP_KEY (see the README)".to_owned()))?;
    Ok((keys, lookup))
}

async fn export_tenant(
    db: &Db,
    config: &Config,
    slug: &str,
    output: &std::path::Path,
) -> Result<(), StartupError> {
    use crate::tenants::portability::{PortabilityError, export};
    let (keys, lookup) = keys(config)?;
    let tenant = crate::tenancy::global::tenant_id_by_slug(db, slug)
        .await
        .map_err(StartupError::Connect)?
        .ok_or_else(|| {
            StartupError::Usage(PortabilityError::NoSuchTenant(slug.to_owned()).to_string())
        })?;
    // Written aside and moved into place: a failed export leaves no file.
    let partial = output.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .map_err(|e| StartupError::Usage(format!("cannot write {}: {e}", partial.display())))?;
    let out = std::io::BufWriter::new(file);
    let exported =
        match export::export(db, &keys, &lookup, &crate::sealed_columns(), tenant, out).await {
            Ok(exported) => exported,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(StartupError::Usage(format!("export failed: {error}")));
            }
        };
    std::fs::rename(&partial, output)
        .map_err(|e| StartupError::Usage(format!("cannot write {}: {e}", output.display())))?;
    println!(
        "{}: {} rows in {} files, schema {}",
        output.display(),
        exported.rows,
        exported.manifest.files.len(),
        exported.manifest.schema_version
    );
    println!("The archive holds personal data in plaintext: keep it safe, delete it when done.");
    Ok(())
}

async fn import_tenant(
    db: &Db,
    config: &Config,
    file: &std::path::Path,
    from_another_installation: bool,
) -> Result<(), StartupError> {
    use crate::tenants::portability::import::{self, Limits, Origin};
    let (keys, lookup) = keys(config)?;
    let input = std::fs::File::open(file)
        .map_err(|e| StartupError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let origin = if from_another_installation {
        Origin::AnotherInstallation
    } else {
        Origin::ThisInstallation
    };
    let imported = import::import(
        db,
        &keys,
        &lookup,
        &crate::sealed_columns(),
        std::io::BufReader::new(input),
        origin,
        &Limits::default(),
    )
    .await
    .map_err(|error| StartupError::Usage(format!("nothing imported: {error}")))?;
    println!("restored {} ({} rows)", imported.slug, imported.rows);
    for email in &imported.new_users {
        println!(
            "new account {email}: no password yet; they set one with \"Forgot your password?\" on the sign-in page"
        );
    }
    Ok(())
}

async fn rotate_keys(db: &Db, config: &Config, batch: i64) -> Result<(), StartupError> {
    let (keys, lookup) = keys(config)?;
    let columns = crate::sealed_columns();
    let rotation = crate::crypto::sealed::rotate(db, &keys, &lookup, &columns, batch)
        .await
        .map_err(|error| StartupError::Usage(format!("rotation stopped: {error}")))?;
    for (column, rewritten) in &rotation.rewritten {
        println!("{column}: {rewritten} re-encrypted");
    }
    if rotation.remaining > 0 {
        return Err(StartupError::Usage(format!(
            "{} values were written under an older key meanwhile (does every instance list the new key first?): run rotate-keys again",
            rotation.remaining
        )));
    }
    println!(
        "every value is under key {}: older keys can be removed from ENCRYPTION_KEYS",
        keys.newest_fingerprint()
    );
    Ok(())
}

async fn serve(db: Db, config: Config) -> Result<(), StartupError> {
    if config.app_env.is_production() && config.smtp_url.is_none() {
        tracing::warn!(
            "APP_ENV=production without SMTP_URL: emails (verification, password reset, invitations) \
             wait in the job queue until SMTP_URL is set and the app restarts."
        );
    }
    let address = format!("{}:{}", config.host, config.port);
    let state = crate::state(db.clone(), config.clone()).map_err(StartupError::Plans)?;
    let server = Server::bind(&config, crate::router(state.clone()))
        .await
        .map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
    let url = server.local_addr().map_or_else(
        |_| format!("http://{address}"),
        |addr| format!("http://{addr}"),
    );
    let stop = crate::http::shutdown_signal().map_err(StartupError::Serve)?;
    let workers = jobs::start(&state, &crate::job_registry(), config.job_workers);
    tracing::info!(%url, backend = db.backend().name(), "listening");
    println!("{} is running at {url}", crate::brand::APP_NAME);
    let served = server.run_until(stop).await;
    workers.stop().await;
    served.map_err(StartupError::Serve)?;
    db.close().await;
    Ok(())
}

async fn print_tenants(db: &Db, reason: &str) -> Result<(), StartupError> {
    let admin = SuperAdmin::for_cli();
    let mut scope = all_tenants_unsafe(db, &admin, reason, Intent::Read).await?;
    println!(
        "{:<36}  {:<24}  {:>7}  {:>9}  name",
        "id", "slug", "members", "locations"
    );
    for page in 0.. {
        let (tenants, more) = crate::admin::tenant_overview(&mut scope, "", page)
            .await
            .map_err(ScopeError::Database)?;
        for tenant in tenants {
            println!(
                "{}  {:<24}  {:>7}  {:>9}  {}",
                tenant.id, tenant.slug, tenant.members, tenant.locations, tenant.name
            );
        }
        if !more {
            break;
        }
    }
    Ok(())
}

async fn create_superadmin(db: &Db, email: &str) -> Result<(), StartupError> {
    let email = Email::parse(email).map_err(|message| StartupError::Usage(message.to_owned()))?;
    use crate::accounts::global::{SuperAdminGrant, grant_super_admin};
    match grant_super_admin(db, &email)
        .await
        .map_err(ScopeError::Database)?
    {
        SuperAdminGrant::Granted(_) => {}
        SuperAdminGrant::NoAccount => {
            return Err(StartupError::Usage(format!(
                "no account has the email {email}: sign up with it first"
            )));
        }
        SuperAdminGrant::NoSecondFactor => {
            return Err(StartupError::Usage(format!(
                "{email} has no two-factor authentication: turn it on at /account/two-factor first"
            )));
        }
    }
    tracing::warn!(%email, "granted super-admin");
    println!("{email} is now a super-admin.");
    Ok(())
}

/// One HTTP/1.0 request over a plain socket: enough to read a status line,
/// without an HTTP client in the binary.
fn healthcheck(port: u16) -> Result<(), StartupError> {
    use std::io::{Read, Write};
    use std::time::Duration;

    let unhealthy = |e: std::io::Error| StartupError::Unhealthy(e.to_string());
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .map_err(unhealthy)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(unhealthy)?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(unhealthy)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(unhealthy)?;
    let status_line = String::from_utf8_lossy(&head);
    if status_line.ends_with(" 200") {
        Ok(())
    } else {
        Err(StartupError::Unhealthy(format!(
            "/healthz answered {status_line}"
        )))
    }
}
