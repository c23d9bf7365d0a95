//! Month-end at scale: the payroll workbook, and a tenant's export and
//! restore. Run with
//!
//! ```sh
//! cargo bench --bench month_end
//! ```
//!
//! On each backend (a SQLite file, and PostgreSQL at BENCH_DATABASE_URL,
//! default the tests' TEST_DATABASE_URL, a superuser that may create
//! databases) it:
//!
//! 1. seeds, through the library's own functions, two tenants that worked
//!    last month: 50 employees at 5 locations, and 5,000 at 50 (Monday to
//!    Friday, a long day now and then, one in ten also on weekends, Spain's
//!    holidays loaded, a vacation day for one in ten), every punch recorded
//!    through the kiosk's path;
//! 2. starts the release binary (`serve`) on that database and downloads
//!    each tenant's workbook for the month three times
//!    (`GET /api/v1/t/{slug}/payroll.xlsx`, with an API token), reading the
//!    summary sheet back: it prints the median time and the server's peak
//!    RSS while it built the workbook (its high-water mark, reset before each
//!    download);
//! 3. seeds the demo tenant with the binary's `seed-demo`, then times
//!    `export-tenant` of it and `import-tenant` into an empty database, and
//!    the same for the 5,000-employee tenant: rows per second and each
//!    command's peak RSS (import holds the archive in memory).
//!
//! Targets: the workbook for 5,000 employees in ≤ 2 s and ≤ 200 MB.
//! BENCH_EMPLOYEES (default 5000) sizes the large tenant; BENCH_BACKENDS
//! (default `sqlite,postgres`) picks the backends.

use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app::crypto::{Keys, LookupKey};
use app::db::Db;
use app::modules::time_tracking::absences::{self, AbsenceKind, NewAbsence};
use app::modules::time_tracking::demo::Dice;
use app::modules::time_tracking::pages::Month;
use app::modules::time_tracking::punches::{self, Kind, PunchInput};
use app::modules::time_tracking::{ClientId, dates, devices, employees, holidays};
use app::tenancy::permissions::LocationVisibility;
use app::tenancy::{Intent, Member, Role, for_tenant};

mod support;

use base64::Engine;
use calamine::{Reader, Xlsx, open_workbook_from_rs};
use sqlx::{AssertSqlSafe, Connection};
use support::Server;

const ENCRYPTION_KEY: [u8; 32] = [3; 32];
const LOOKUP_KEY: [u8; 32] = [5; 32];
const TIME_ZONE: &str = "Europe/Madrid";
const EMPLOYEES_PER_LOCATION: usize = 100;
const DOWNLOADS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let large: usize = std::env::var("BENCH_EMPLOYEES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let month = Month::of(dates::today(TIME_ZONE)).preceding();
    println!(
        "Month-end, {} cores; payroll for {}; every figure includes the binary's start-up where it runs a command",
        std::thread::available_parallelism().map_or(0, usize::from),
        month.label
    );
    for backend in backends.split(',') {
        let databases = Databases::create(backend.trim()).await;
        measure(&databases, large, &month).await;
        databases.drop().await;
    }
}

/// The two databases of one backend: the source, and an empty one to
/// restore into.
struct Databases {
    backend: &'static str,
    source: String,
    target: String,
    /// The SQLite files' folder, or the PostgreSQL server to drop the
    /// databases on.
    folder: tempfile::TempDir,
    admin_url: Option<String>,
}

impl Databases {
    async fn create(backend: &str) -> Self {
        let folder = tempfile::tempdir().expect("a folder");
        if backend == "sqlite" {
            let file = |name: &str| format!("sqlite://{}", folder.path().join(name).display());
            return Self {
                backend: "SQLite",
                source: file("source.db"),
                target: file("target.db"),
                folder,
                admin_url: None,
            };
        }
        assert_eq!(backend, "postgres", "BENCH_BACKENDS: sqlite, postgres");
        let admin_url = support::admin_url();
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let (base, _) = admin_url.rsplit_once('/').expect("a database in the URL");
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL at BENCH_DATABASE_URL");
        let mut urls = Vec::new();
        for role in ["source", "target"] {
            let name = format!("bench_month_end_{role}_{suffix}");
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create a database");
            urls.push(format!("{base}/{name}"));
        }
        let [source, target] = urls.try_into().expect("two databases");
        Self {
            backend: "PostgreSQL",
            source,
            target,
            folder,
            admin_url: Some(admin_url),
        }
    }

    async fn drop(self) {
        let Some(admin_url) = &self.admin_url else {
            return;
        };
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect");
        for url in [&self.source, &self.target] {
            let (_, name) = url.rsplit_once('/').expect("a database");
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .expect("drop a database");
        }
    }
}

async fn measure(databases: &Databases, large: usize, month: &Month) {
    let backend = databases.backend;
    let started = Instant::now();
    let config = support::config(&environment(&databases.source));
    let db = app::cli::connect_and_migrate(&config)
        .await
        .expect("connect and migrate");
    let small = seed(&db, "Payroll 50", 50, month).await;
    let big = seed(&db, &format!("Payroll {large}"), large, month).await;
    db.close().await;
    eprintln!(
        "{backend}: seeded {} punches in {:.0} s",
        small.punches + big.punches,
        started.elapsed().as_secs_f64()
    );

    let server = Server::start(databases.folder.path(), &environment(&databases.source)).await;
    let client = reqwest::Client::new();
    for tenant in [&small, &big] {
        let mut times = Vec::new();
        let mut peak = 0;
        let mut size = 0;
        for _ in 0..DOWNLOADS {
            reset_peak(&server);
            let started = Instant::now();
            let workbook = payroll(&client, &server, tenant, month).await;
            times.push(started.elapsed());
            peak = peak.max(peak_kb(server.pid()).expect("the server's status"));
            size = workbook.len();
            check(&workbook, tenant);
        }
        times.sort();
        println!(
            "{backend:<10} payroll.xlsx, {:>5} employees × 1 month: {:>6.3} s (median of {DOWNLOADS}), peak RSS {:>6.1} MB, {:.0} KB",
            tenant.employees,
            times[DOWNLOADS / 2].as_secs_f64(),
            megabytes(peak),
            size as f64 / 1000.0
        );
    }
    drop(server);

    let folder = databases.folder.path();
    let run = |url: &str, args: &[&str]| run_command(folder, url, args);
    let (seeded, _) = run(
        &databases.source,
        &["seed-demo", "--email", "owner@demo.test"],
    );
    assert!(seeded.contains("Sign in at"), "{seeded}");
    // What every command spends before its work: start, connect, find
    // the migrations applied (the target is migrated first).
    run(&databases.target, &["migrate"]);
    let (_, start_up) = run(&databases.target, &["migrate"]);
    for (name, slug) in [
        ("the demo tenant", "aurora-coffee-group".to_owned()),
        ("the large tenant", big.slug.clone()),
    ] {
        let archive = folder.join(format!("{slug}.zip"));
        let archive = archive.to_str().expect("a path");
        let (exported, export) = run(
            &databases.source,
            &["export-tenant", &slug, "--output", archive],
        );
        let (restored, import) = run(&databases.target, &["import-tenant", archive]);
        let rows = rows_in(&restored);
        assert_eq!(rows, rows_in(&exported), "{exported}\n{restored}");
        for (what, figures) in [("export-tenant", &export), ("import-tenant", &import)] {
            let seconds = figures.seconds - start_up.seconds;
            println!(
                "{backend:<10} {what} of {name:<16} {rows:>7} rows in {:>6.2} s ({:.2} s less start-up): {:>7.0} rows/s, peak RSS {:>6.1} MB",
                figures.seconds,
                seconds,
                rows as f64 / seconds,
                megabytes(figures.peak_kb)
            );
        }
        let size = std::fs::metadata(archive).expect("the archive").len();
        println!(
            "{backend:<10} archive of {name}: {:.1} MB",
            size as f64 / 1e6
        );
    }
    println!(
        "{backend:<10} start-up of a command (connect, check migrations): {:.2} s",
        start_up.seconds
    );
}

/// A seeded tenant, as the downloads need it.
struct Seeded {
    slug: String,
    /// An admin API token's secret.
    token: String,
    employees: usize,
    locations: usize,
    punches: usize,
}

/// The keys as the binary reads them, and the database.
fn environment(url: &str) -> Vec<(&'static str, String)> {
    let encode = |key: &[u8]| base64::engine::general_purpose::STANDARD.encode(key);
    vec![
        ("DATABASE_URL", url.to_owned()),
        ("ENCRYPTION_KEYS", encode(&ENCRYPTION_KEY)),
        ("LOOKUP_KEY", encode(&LOOKUP_KEY)),
    ]
}

/// A tenant of `employees` people, 100 to a location (fewer: 10), who
/// worked `month`.
async fn seed(db: &Db, name: &str, employees: usize, month: &Month) -> Seeded {
    let keys = Keys::new(&[ENCRYPTION_KEY]);
    let key = LookupKey::new(&LOOKUP_KEY);
    let everyone = LocationVisibility::every_location();
    let per_location = if employees < EMPLOYEES_PER_LOCATION {
        10
    } else {
        EMPLOYEES_PER_LOCATION
    };
    let location_count = employees.div_ceil(per_location);
    let (owner, tenant, locations, mut scope) = support::tenant(
        db,
        &format!("owner-{employees}@bench.test"),
        name,
        TIME_ZONE,
        location_count,
    )
    .await;
    let owner = Member {
        membership_id: app::members::membership_id(&mut scope, owner)
            .await
            .expect("membership")
            .expect("the owner's membership"),
        user_id: owner,
        role: Role::Owner,
        impersonated_by: None,
    };
    let token = app::api_tokens::create(
        &mut scope,
        &owner,
        &app::api_tokens::NewApiToken {
            name: "Bench".to_owned(),
            role: Role::Admin,
            // Made below the HTTP layer, which is what asks for it.
            password: String::new(),
        },
    )
    .await
    .expect("a token")
    .expect("a valid token")
    .secret;
    let spain = holidays::calendars()
        .into_iter()
        .find(|c| c.id == "es")
        .expect("Spain's calendar");
    let hire_date = time::Date::from_calendar_date(2024, time::Month::January, 8).ok();
    let mut staff = Vec::new();
    for (l, location) in locations.iter().enumerate() {
        holidays::load(&mut scope, location, &spain)
            .await
            .expect("holidays");
        let (_, code) = devices::create(&mut scope, location.id, "Bench tablet")
            .await
            .expect("a kiosk");
        let secret = devices::pair(&mut scope, &code)
            .await
            .expect("pair")
            .expect("a device token");
        let kiosk = devices::authenticate(&mut scope, &secret)
            .await
            .expect("authenticate")
            .expect("a paired kiosk");
        let mut hands = Vec::new();
        for e in 0..per_location.min(employees - l * per_location) {
            let n = l * per_location + e;
            let valid = employees::EmployeeInput {
                name: format!("Employee {n:05}"),
                employee_number: format!("B-{n:05}"),
                national_id: format!("{:08}X", 20_000_000 + n),
                hire_date,
                weekly_minutes: 2400,
                hourly_rate_cents: 1200 + i64::try_from(n % 8).expect("small") * 25,
                location_ids: vec![location.id],
                ..Default::default()
            }
            .validate(month.last)
            .expect("a valid employee");
            let (employee, pin) = employees::create(&mut scope, &keys, everyone, &key, &valid)
                .await
                .expect("an employee");
            hands.push((n, employee, pin));
        }
        staff.push((kiosk, hands));
    }
    scope.commit().await.expect("commit");

    let zone = dates::zone(TIME_ZONE);
    let mut dice = Dice(0x6d6f_6e74_685f_656e);
    let mut punches = 0;
    for (kiosk, hands) in &staff {
        let mut queue = Vec::new();
        let mut scope = for_tenant(db, tenant.id, Intent::Write)
            .await
            .expect("scope");
        for (n, employee, pin) in hands {
            let vacation = (n % 10 == 3).then(|| month.first + time::Duration::days(9));
            if let Some(day) = vacation {
                let absence = NewAbsence {
                    employee_id: employee.id,
                    day,
                    kind: AbsenceKind::Vacation,
                    minutes: 480,
                    note: String::new(),
                };
                absences::record(&mut scope, owner.user_id, employee, &absence)
                    .await
                    .expect("an absence");
            }
            let mut day = month.first;
            while day <= month.last {
                let weekend = day.weekday().number_days_from_monday() >= 5;
                if (!weekend || n % 10 == 0) && Some(day) != vacation {
                    let end = if dice.roll(5) == 0 { "19:00" } else { "17:00" };
                    if let (Some(start), Some(stop)) = (
                        dates::at_local(day, "09:00", &zone),
                        dates::at_local(day, end, &zone),
                    ) {
                        for (kind, at) in [(Kind::In, start), (Kind::Out, stop)] {
                            queue.push(PunchInput {
                                client_id: ClientId::new(),
                                pin: pin.as_str().to_owned(),
                                kind,
                                at: at + dice.jitter(10, 10),
                            });
                        }
                    }
                }
                day = day.next_day().expect("a day");
            }
        }
        scope.commit().await.expect("commit");
        queue.sort_by_key(|p| p.at);
        // Each day's punches as a kiosk sent them, a minute after the last.
        let days = queue.chunk_by(|a, b| a.at.date() == b.at.date());
        for batch in days.flat_map(|day| day.chunks(500)) {
            let received = batch.last().expect("a punch").at + time::Duration::MINUTE;
            let mut scope = for_tenant(db, tenant.id, Intent::Write)
                .await
                .expect("scope");
            let outcomes = punches::record(&mut scope, &key, kiosk, batch, received)
                .await
                .expect("punches");
            scope.commit().await.expect("commit");
            assert!(
                outcomes
                    .iter()
                    .all(|(o, _)| matches!(o, punches::Outcome::Recorded(_)))
            );
            punches += batch.len();
        }
    }
    Seeded {
        slug: tenant.slug,
        token,
        employees,
        locations: location_count,
        punches,
    }
}

/// The workbook has a sheet per location after the summary, whose rows
/// are a header, each employee and a total.
fn check(workbook: &[u8], tenant: &Seeded) {
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(workbook)).expect("an xlsx");
    assert_eq!(book.sheet_names().len(), tenant.locations + 1);
    let summary = book.worksheet_range("Summary").expect("a summary sheet");
    assert_eq!(summary.height(), tenant.employees + 2);
}

/// The payroll workbook of `tenant` for `month`, as the API serves it.
async fn payroll(
    client: &reqwest::Client,
    server: &Server,
    tenant: &Seeded,
    month: &Month,
) -> Vec<u8> {
    let response = client
        .get(format!(
            "{}/api/v1/t/{}/payroll.xlsx?month={}",
            server.address, tenant.slug, month.key
        ))
        .bearer_auth(&tenant.token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("the workbook").to_vec()
}

/// Starts the high-water mark of the server's RSS again from its current
/// RSS (Linux: `clear_refs`).
fn reset_peak(server: &Server) {
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").expect("reset the peak RSS");
}

/// A process's peak RSS (VmHWM), in kB.
fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

struct Ran {
    seconds: f64,
    peak_kb: u64,
}

/// Runs the binary with `args` on `url`; its output, wall time and peak
/// RSS (read until it exits).
fn run_command(folder: &Path, url: &str, args: &[&str]) -> (String, Ran) {
    let started = Instant::now();
    let mut child = Command::new(support::binary())
        .args(args)
        .envs(environment(url))
        .current_dir(folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    // The high-water mark only rises: its last reading before the exit is
    // the peak (give or take the last 5 ms).
    let mut peak = 0;
    loop {
        peak = peak_kb(child.id()).unwrap_or(0).max(peak);
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().expect("its output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        stdout,
        Ran {
            seconds,
            peak_kb: peak,
        },
    )
}

/// "… 12345 rows …" in a command's output.
fn rows_in(output: &str) -> u64 {
    let words: Vec<&str> = output.split_whitespace().collect();
    words
        .windows(2)
        .find(|pair| pair[1].trim_end_matches([',', ')']) == "rows")
        .and_then(|pair| pair[0].trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("no row count in {output}"))
}

fn megabytes(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}
