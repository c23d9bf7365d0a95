//! `seed-demo`: a tenant to look around in on first run. A café group in
//! Madrid with five locations (one open late, so overnight shifts), 50
//! employees with PINs and a paired kiosk per location, and two months of
//! shifts recorded through the same path as a real kiosk's punches, with a
//! few anomalies (forgotten clock-outs, double clock-ins, stray clock-outs,
//! late arrivals) and edits. Comped onto the top plan, so the Free plan's limits
//! don't apply. It runs once: a second run is refused.

use std::fmt;

use time::{Date, Duration, OffsetDateTime};

use super::devices::{self, Paired};
use super::employees::{self, EmployeeInput, pin::Pin};
use super::punches::{self, Kind, PunchInput};
use super::shifts::edits::{self, Action, EditInput};
use super::shifts::{self, Days, Flag};
use super::{ClientId, dates};
use kernel::accounts::signup::{self, SignupInput};
use kernel::capability::CommandContext;
use kernel::crypto::{Keys, LookupKey};
use kernel::error::AppError;
use kernel::ids::LocationId;
use kernel::tenancy::global::tenant_id_by_slug;
use kernel::tenancy::permissions::LocationVisibility;
use kernel::tenancy::super_admin::all_tenants_unsafe;
use kernel::tenancy::{Intent, Member, Role, TenantScope, for_tenant};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const NAME: &str = "Aurora Coffee Group";
/// The slug [`NAME`] gets: its presence means the demo was seeded.
const SLUG: &str = "aurora-coffee-group";
const TIME_ZONE: &str = "Europe/Madrid";
const DAYS: i64 = 61;
const EMPLOYEES: usize = 50;

/// A café of the group, and its two shifts (clock-in, clock-out) on the
/// wall clock.
struct Site {
    name: &'static str,
    address: &'static str,
    shifts: [(&'static str, &'static str); 2],
}

const LOCATIONS: [Site; 5] = [
    Site {
        name: "Aurora Centro",
        address: "Calle Mayor 12",
        shifts: [("07:00", "15:00"), ("14:30", "22:30")],
    },
    Site {
        name: "Aurora Malasaña",
        address: "Calle del Espíritu Santo 3",
        shifts: [("07:30", "15:30"), ("15:00", "23:00")],
    },
    Site {
        name: "Aurora Chamberí",
        address: "Calle de Trafalgar 20",
        shifts: [("07:00", "15:00"), ("14:00", "22:00")],
    },
    Site {
        name: "Aurora Retiro",
        address: "Calle de Alcalá 150",
        shifts: [("08:00", "16:00"), ("15:30", "23:30")],
    },
    Site {
        name: "Aurora Noche",
        address: "Calle de la Montera 9",
        shifts: [("17:00", "01:00"), ("21:00", "05:00")],
    },
];

const FIRST_NAMES: [&str; 25] = [
    "Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Leo", "Julia", "Daniel", "Paula", "Pablo",
    "Valeria", "Álvaro", "Emma", "Manuel", "Daniela", "Adrián", "Carla", "Enzo", "Sara", "Mario",
    "Alba", "Diego", "Noa", "Javier", "Irene",
];
const LAST_NAMES: [&str; 10] = [
    "García",
    "Rodríguez",
    "González",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
];

/// What was seeded, and how to sign in.
pub struct Seeded {
    email: String,
    password: String,
    url: String,
    punches: usize,
    edits: usize,
}

impl fmt::Display for Seeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Seeded {NAME}: {} locations, {EMPLOYEES} employees, {} punches over {DAYS} days, {} edits.",
            LOCATIONS.len(),
            self.punches,
            self.edits
        )?;
        writeln!(f, "Sign in at {}", self.url)?;
        writeln!(f, "  email:    {}", self.email)?;
        write!(f, "  password: {}", self.password)
    }
}

/// A small deterministic generator (xorshift), so every demo looks alike
/// (and every benchmark's data).
pub struct Dice(pub u64);

impl Dice {
    /// A number in `0..below`.
    pub fn roll(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    /// Minutes in `-early..=late`.
    pub fn jitter(&mut self, early: i64, late: i64) -> Duration {
        let span = u64::try_from(early + late + 1).unwrap_or(1);
        Duration::minutes(i64::try_from(self.roll(span)).unwrap_or(0) - early)
    }
}

/// Seeds the demo tenant.
///
/// # Errors
/// A second run, a taken email, a password the signup refuses, no
/// `LOOKUP_KEY` in production, or a database failure.
pub async fn seed(
    context: &CommandContext,
    email: &str,
    password: Option<String>,
) -> Result<Seeded, Failure> {
    let db = &context.db;
    if tenant_id_by_slug(db, SLUG).await?.is_some() {
        return Err(format!(
            "the demo is already seeded (the organisation {SLUG} exists): sign in with the email \
             printed then, or start from an empty database"
        )
        .into());
    }
    let key = LookupKey::load(&context.config)?
        .ok_or("seed-demo issues kiosk PINs: set LOOKUP_KEY (see the README)")?;
    let keys = Keys::load(&context.config)?
        .ok_or("seed-demo encrypts national ids: set ENCRYPTION_KEYS (see the README)")?;
    let password = password.unwrap_or_else(|| kernel::tokens::random_token()[..16].to_owned());
    let signup = SignupInput {
        email: email.to_owned(),
        password: password.clone(),
        organisation: NAME.to_owned(),
        time_zone: TIME_ZONE.to_owned(),
    }
    .validate()
    .map_err(|errors| AppError::from(errors).to_string())?;
    let (owner, tenant) = signup::create(db, signup)
        .await?
        .map_err(|errors| AppError::from(errors).to_string())?;

    let mut all = all_tenants_unsafe(
        db,
        &context.operator,
        "seed-demo: comp the demo tenant onto the top plan",
        Intent::Write,
    )
    .await?;
    kernel::billing::state::comp(&mut all, tenant.id, None, "Demo data (seed-demo)").await?;
    all.commit().await?;

    let mut scope = for_tenant(db, tenant.id, Intent::Write).await?;
    let membership_id = kernel::members::membership_id(&mut scope, owner)
        .await?
        .ok_or("the owner's membership is missing")?;
    let owner = Member {
        membership_id,
        user_id: owner,
        role: Role::Owner,
        impersonated_by: None,
    };
    let locations = add_locations(&mut scope).await?;
    let staff = hire(&mut scope, &keys, &key, &owner, &locations).await?;
    let mut kiosks = Vec::new();
    for location in &locations {
        kiosks.push(pair_kiosk(&mut scope, *location).await?);
    }
    scope.commit().await?;

    let today = dates::today(TIME_ZONE);
    let punches = punch_two_months(db, tenant.id, &key, &kiosks, &staff, today).await?;
    let mut scope = for_tenant(db, tenant.id, Intent::Write).await?;
    let edits = edit_some(&mut scope, &owner, today).await?;
    scope.commit().await?;
    Ok(Seeded {
        email: email.trim().to_lowercase(),
        password,
        url: format!("{}/login", context.config.base_url.trim_end_matches('/')),
        punches,
        edits,
    })
}

/// The five locations (the signup made the first; it is renamed).
async fn add_locations(scope: &mut TenantScope) -> Result<Vec<LocationId>, Failure> {
    let first = kernel::locations::list(
        scope,
        LocationVisibility::every_location(),
        kernel::locations::Page::ALL,
    )
    .await?
    .first()
    .map(|l| l.id)
    .ok_or("the signup made no location")?;
    let mut ids = Vec::new();
    for (n, site) in LOCATIONS.iter().enumerate() {
        let input = kernel::locations::LocationInput {
            name: site.name.to_owned(),
            address: site.address.to_owned(),
            time_zone: TIME_ZONE.to_owned(),
        }
        .validate()
        .map_err(|_| format!("the demo location {} is invalid", site.name))?;
        let written = if n == 0 {
            kernel::locations::update(scope, first, &input).await
        } else {
            kernel::locations::create(scope, &input).await
        };
        ids.push(
            written
                .map_err(|_| format!("can't write the location {}", site.name))?
                .id,
        );
    }
    Ok(ids)
}

/// A hired employee: where they work, their PIN, and their shift pattern.
struct Hand {
    index: usize,
    location: usize,
    pin: Pin,
}

async fn hire(
    scope: &mut TenantScope,
    keys: &Keys,
    key: &LookupKey,
    owner: &Member,
    locations: &[LocationId],
) -> Result<Vec<Hand>, Failure> {
    let mut hands = Vec::new();
    for index in 0..EMPLOYEES {
        let location = index % LOCATIONS.len();
        let input = EmployeeInput {
            name: format!(
                "{} {}",
                FIRST_NAMES[index % FIRST_NAMES.len()],
                LAST_NAMES[(index * 3 + index / FIRST_NAMES.len()) % LAST_NAMES.len()]
            ),
            employee_number: format!("A-{:03}", index + 1),
            national_id: format!(
                "{:08}{}",
                10_000_000 + index * 7919,
                "TRWAGMYFPDXBNJZSQVHLCKE"
                    .chars()
                    .nth(index % 23)
                    .unwrap_or('X')
            ),
            hire_date: Date::from_calendar_date(2024, time::Month::March, 1).ok(),
            leave_date: None,
            weekly_minutes: 2400,
            hourly_rate_cents: 1250 + i64::try_from(index % 4).unwrap_or(0) * 50,
            location_ids: vec![locations[location]],
            membership_id: None,
        };
        let valid = input
            .validate(dates::today(TIME_ZONE))
            .map_err(|errors| AppError::from(errors).to_string())?;
        let (_, pin) = employees::create(scope, keys, owner.location_visibility(), key, &valid)
            .await
            .map_err(AppError::from)?;
        hands.push(Hand {
            index,
            location,
            pin,
        });
    }
    Ok(hands)
}

async fn pair_kiosk(scope: &mut TenantScope, location: LocationId) -> Result<Paired, Failure> {
    let (_, code) = devices::create(scope, location, "Counter tablet").await?;
    let token = devices::pair(scope, &code).await?.ok_or("pairing failed")?;
    Ok(devices::authenticate(scope, &token)
        .await?
        .ok_or("the new kiosk doesn't authenticate")?)
}

/// Each employee works five days a week on their location's morning or
/// late pattern, a few minutes early or late; some days go wrong the way
/// real ones do. Recorded through the kiosk path, a location at a time;
/// punches an "offline" kiosk kept arrive last.
async fn punch_two_months(
    db: &kernel::db::Db,
    tenant: kernel::ids::TenantId,
    key: &LookupKey,
    kiosks: &[Paired],
    staff: &[Hand],
    today: Date,
) -> Result<usize, Failure> {
    let zone = dates::zone(TIME_ZONE);
    let mut dice = Dice(0x5eed_cafe_2026);
    let mut by_kiosk: Vec<Vec<PunchInput>> = vec![Vec::new(); kiosks.len()];
    let mut late: Vec<(usize, PunchInput)> = Vec::new();
    let mut day_number = 0_usize;
    for back in (1..=DAYS).rev() {
        let day = today - Duration::days(back);
        let weekday = usize::from(day.weekday().number_days_from_monday());
        for hand in staff {
            if (weekday + hand.index) % 7 < 2 {
                continue;
            }
            day_number += 1;
            let pattern = LOCATIONS[hand.location].shifts[(hand.index / LOCATIONS.len()) % 2];
            let (Some(start), Some(end)) = (
                dates::at_local(day, pattern.0, &zone),
                dates::at_local(day, pattern.1, &zone),
            ) else {
                continue;
            };
            let end = if end <= start {
                end + Duration::DAY
            } else {
                end
            };
            let punch = |kind, at: OffsetDateTime| PunchInput {
                client_id: ClientId::new(),
                pin: hand.pin.as_str().to_owned(),
                kind,
                at: at.replace_nanosecond(0).unwrap_or(at),
            };
            let clock_in = punch(Kind::In, start + dice.jitter(10, 8));
            let clock_out = punch(Kind::Out, end + dice.jitter(5, 15));
            let queue = &mut by_kiosk[hand.location];
            match day_number {
                n if n % 97 == 0 => queue.push(clock_in),
                n if n % 173 == 0 => queue.push(clock_out),
                n if n % 131 == 0 => {
                    let again = punch(Kind::In, clock_in.at + Duration::minutes(1));
                    queue.extend([clock_in, again, clock_out]);
                }
                n if n % 149 == 0 => {
                    late.extend([(hand.location, clock_in), (hand.location, clock_out)])
                }
                _ => queue.extend([clock_in, clock_out]),
            }
        }
    }
    let mut recorded = 0;
    for (kiosk, mut queue) in kiosks.iter().zip(by_kiosk) {
        queue.sort_by_key(|p| p.at);
        recorded += record(db, tenant, key, kiosk, &queue, Duration::MINUTE).await?;
    }
    for (location, punch) in late {
        let kiosk = &kiosks[location];
        recorded += record(db, tenant, key, kiosk, &[punch], Duration::days(2)).await?;
    }
    Ok(recorded)
}

/// Records punches as a kiosk's batches do, 500 at a time, each day's
/// received `delay` after its last punch (never later than now), as a
/// kiosk that sent them then would have.
async fn record(
    db: &kernel::db::Db,
    tenant: kernel::ids::TenantId,
    key: &LookupKey,
    kiosk: &Paired,
    queue: &[PunchInput],
    delay: Duration,
) -> Result<usize, Failure> {
    let now = OffsetDateTime::now_utc();
    let mut recorded = 0;
    let days = queue.chunk_by(|a, b| a.at.date() == b.at.date());
    let batches = days.flat_map(|day| day.chunks(crate::kiosk::api::MAX_BATCH));
    for batch in batches {
        let received = batch.last().map_or(now, |last| (last.at + delay).min(now));
        let mut scope = for_tenant(db, tenant, Intent::Write).await?;
        let outcomes = punches::record(&mut scope, key, kiosk, batch, received).await?;
        scope.commit().await?;
        recorded += outcomes
            .iter()
            .filter(|(outcome, _)| matches!(outcome, punches::Outcome::Recorded(_)))
            .count();
    }
    Ok(recorded)
}

/// The owner's edits a real month has: forgotten clock-outs corrected, and
/// a stray clock-out deleted, each with its reason.
async fn edit_some(scope: &mut TenantScope, owner: &Member, today: Date) -> Result<usize, Failure> {
    let days = Days {
        first: today - Duration::days(DAYS),
        last: today,
    };
    let now = OffsetDateTime::now_utc();
    let flagged = shifts::on_days(scope, None, days, now).await?;
    let mut edits = 0;
    let forgotten = flagged
        .iter()
        .filter(|s| s.flags.contains(&Flag::MissingClockOut))
        .take(4);
    let stray = flagged
        .iter()
        .filter(|s| s.flags.contains(&Flag::MissingClockIn))
        .take(1);
    for shift in forgotten.chain(stray) {
        let input = match shift.start {
            Some(start) => EditInput {
                action: Action::Correct,
                employee_id: None,
                shift_id: Some(shift.id),
                location_id: None,
                start: Some(start),
                end: Some(start + Duration::hours(8)),
                reason: "Forgot to clock out: eight hours, as on the rota.".to_owned(),
                correction_request_id: None,
            },
            None => EditInput {
                action: Action::Delete,
                employee_id: None,
                shift_id: Some(shift.id),
                location_id: None,
                start: None,
                end: None,
                reason: "Pressed clock-out by mistake on a day off.".to_owned(),
                correction_request_id: None,
            },
        };
        edits::apply(scope, owner, &input, now).await?;
        edits += 1;
    }
    Ok(edits)
}
