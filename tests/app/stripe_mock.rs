//! A local stand-in for Stripe's API, at the HTTP level: the app's real
//! client talks to it through `STRIPE_API_BASE`. It keeps subscriptions and
//! Checkout Sessions as Stripe would (the test sets what Stripe "has now"),
//! answers with minimal but complete objects of the API version the client
//! pins, and records every request. Like Stripe, it answers a repeated
//! idempotency key with the first answer, and a key reused with other
//! parameters with a 400; it can fail (500), hang, or hold one answer back
//! (a reading that reaches the app late). Webhooks are signed
//! with Stripe's algorithm by [`sign`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "whsec_test_secret";
pub const PRICE_MONTHLY: &str = "price_pro_monthly";
pub const PRICE_YEARLY: &str = "price_pro_yearly";
pub const PRICE_STARTER_MONTHLY: &str = "price_starter_monthly";

/// One request the app made.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    /// A form field, by its bracketed name (`line_items[0][price]`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A subscription as Stripe has it.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub customer: String,
    pub status: String,
    /// In its metadata; empty for none.
    pub tenant: String,
    pub price: String,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    pub created: i64,
    /// Its price's lookup key (`stripe-sync` sets `<plan>_<interval>`).
    pub lookup_key: Option<String>,
    /// Seats billed.
    pub quantity: i64,
}

/// An invoice as Stripe has it.
#[derive(Clone, Debug)]
pub struct Invoice {
    pub customer: String,
    /// Its subscription's, or none for a one-off invoice.
    pub subscription: Option<String>,
    /// In its subscription's metadata; empty for none.
    pub tenant: String,
    /// draft, open, paid, void or uncollectible.
    pub status: String,
    pub number: Option<String>,
    pub total: i64,
    pub amount_due: i64,
    pub created: i64,
}

/// A price as Stripe has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub product: String,
    pub lookup_key: Option<String>,
    pub active: bool,
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    /// Per unit; `None` for a tiered price.
    pub unit_amount: Option<i64>,
    /// A graduated price's tiers: up to how many (`None`: the rest), at
    /// what per unit.
    pub tiers: Vec<(Option<i64>, i64)>,
}

/// A product as Stripe has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
}

/// A Customer Portal configuration: what it was made with.
#[derive(Clone, Debug)]
pub struct PortalConfiguration {
    pub active: bool,
    pub metadata: HashMap<String, String>,
    pub form: Vec<(String, String)>,
}

impl PortalConfiguration {
    /// A form field it was made with, by its bracketed name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Clone, Debug)]
struct CheckoutSession {
    client_reference_id: Option<String>,
    customer: Option<String>,
    subscription: Option<String>,
    complete: bool,
}

#[derive(Default)]
struct Books {
    requests: Vec<Recorded>,
    subscriptions: HashMap<String, Subscription>,
    checkouts: HashMap<String, CheckoutSession>,
    invoices: HashMap<String, Invoice>,
    products: BTreeMap<String, Product>,
    prices: BTreeMap<String, Price>,
    configurations: BTreeMap<String, PortalConfiguration>,
    /// Prices and configurations made, for their ids.
    made: u32,
    failing: bool,
    /// Cards decline: a change that waits for its payment stays pending.
    declining: bool,
    /// Routes (`GET /v1/…`) answered with Stripe's 500.
    failing_routes: Vec<String>,
    created: u32,
    /// Idempotency keys of created Checkout Sessions: the parameters sent
    /// with each, and the session made.
    keys: HashMap<String, (String, String)>,
}

#[derive(Clone)]
pub struct MockStripe {
    pub url: String,
    books: Arc<Mutex<Books>>,
    hanging: Arc<watch::Sender<bool>>,
    held: Held,
}

/// The next answer to a route (`GET /v1/…`) to hold back once made, until
/// the test lets it go.
type Held = Arc<Mutex<Option<(String, oneshot::Receiver<()>)>>>;

impl MockStripe {
    pub async fn start() -> Self {
        let books = Arc::new(Mutex::new(Books::default()));
        let hanging = Arc::new(watch::Sender::new(false));
        let held = Held::default();
        let router = Router::new()
            .route("/v1/checkout/sessions", post(create_checkout))
            .route("/v1/checkout/sessions/{id}", get(checkout_session))
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route(
                "/v1/billing_portal/configurations",
                get(list_configurations).post(create_configuration),
            )
            .route(
                "/v1/billing_portal/configurations/{id}",
                post(update_configuration),
            )
            .route("/v1/invoices/create_preview", post(preview_invoice))
            .route("/v1/invoices/{id}", get(invoice))
            .route("/v1/products", post(create_product))
            .route("/v1/products/{id}", get(product).post(update_product))
            .route("/v1/prices", get(list_prices).post(create_price))
            .route("/v1/prices/{id}", post(update_price))
            .route("/v1/subscriptions", get(list_subscriptions))
            .route(
                "/v1/subscriptions/{id}",
                get(subscription)
                    .post(update_subscription)
                    .delete(cancel_subscription),
            )
            .layer(axum::middleware::from_fn_with_state(
                (hanging.subscribe(), held.clone()),
                hang_while_told,
            ))
            .with_state(books.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the mock");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("mock serves");
        });
        Self {
            url,
            books,
            hanging,
            held,
        }
    }

    /// The app's Stripe settings, pointed at this mock.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STRIPE_SECRET_KEY", "sk_test_mock".to_owned()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            (
                "STRIPE_PRICES",
                format!(
                    "pro_monthly={PRICE_MONTHLY},pro_yearly={PRICE_YEARLY},\
                     starter_monthly={PRICE_STARTER_MONTHLY}"
                ),
            ),
            ("STRIPE_API_BASE", self.url.clone()),
        ]
    }

    /// Forgets everything: a new test's Stripe account.
    pub fn reset(&self) {
        *self.books() = Books::default();
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().expect("not poisoned")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.books().requests.clone()
    }

    /// The requests to `path` (method and path, as `POST /v1/…`).
    pub fn requests_to(&self, route: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| format!("{} {}", r.method, r.path) == route)
            .collect()
    }

    /// The subscription as Stripe has it now.
    pub fn subscription(&self, id: &str) -> Option<Subscription> {
        self.books().subscriptions.get(id).cloned()
    }

    /// Stripe now has this subscription in this state.
    pub fn set_subscription(&self, id: &str, subscription: Subscription) {
        self.books()
            .subscriptions
            .insert(id.to_owned(), subscription);
    }

    /// The customer paid: the session is complete, with its customer and
    /// subscription.
    pub fn complete_checkout(&self, session: &str, customer: &str, subscription: &str) {
        let mut books = self.books();
        let checkout = books
            .checkouts
            .get_mut(session)
            .expect("a session the app created");
        checkout.customer = Some(customer.to_owned());
        checkout.subscription = Some(subscription.to_owned());
        checkout.complete = true;
    }

    /// The products, by id.
    pub fn products(&self) -> BTreeMap<String, Product> {
        self.books().products.clone()
    }

    /// Stripe now has this invoice in this state.
    pub fn set_invoice(&self, id: &str, invoice: Invoice) {
        self.books().invoices.insert(id.to_owned(), invoice);
    }

    /// Stripe now has this product.
    pub fn set_product(&self, id: &str, product: Product) {
        self.books().products.insert(id.to_owned(), product);
    }

    /// The prices, by id.
    pub fn prices(&self) -> BTreeMap<String, Price> {
        self.books().prices.clone()
    }

    /// The price holding `lookup_key`, with its id.
    pub fn price_with_lookup_key(&self, lookup_key: &str) -> Option<(String, Price)> {
        self.prices()
            .into_iter()
            .find(|(_, price)| price.lookup_key.as_deref() == Some(lookup_key))
    }

    /// Stripe now has this price (made by hand in the dashboard, or by an
    /// earlier `stripe-sync` from other plans).
    pub fn set_price(&self, id: &str, price: Price) {
        self.books().prices.insert(id.to_owned(), price);
    }

    /// Stripe now has this Customer Portal configuration.
    pub fn set_portal_configuration(&self, id: &str, configuration: PortalConfiguration) {
        self.books()
            .configurations
            .insert(id.to_owned(), configuration);
    }

    /// The Customer Portal configurations, by id.
    pub fn portal_configurations(&self) -> BTreeMap<String, PortalConfiguration> {
        self.books().configurations.clone()
    }

    /// While declining, a change made with `pending_if_incomplete` waits
    /// for a payment that fails.
    pub fn set_declining(&self, declining: bool) {
        self.books().declining = declining;
    }

    /// Requests to `route` (`GET /v1/…`) get Stripe's 500 from now on.
    pub fn fail_route(&self, route: &str) {
        self.books().failing_routes.push(route.to_owned());
    }

    /// While failing, every request gets Stripe's 500.
    pub fn set_failing(&self, failing: bool) {
        self.books().failing = failing;
    }

    /// While hanging, requests are held unanswered (until the client gives
    /// up, or the hang ends).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.send_replace(hanging);
    }

    /// The next request to `route` (`GET /v1/subscriptions`) is answered
    /// as things are then, but the answer is held back until the returned
    /// sender is used or dropped: a reading that reaches the app late.
    pub fn hold_next_answer(&self, route: &str) -> oneshot::Sender<()> {
        let (release, held) = oneshot::channel();
        *self.held.lock().expect("not poisoned") = Some((route.to_owned(), held));
        release
    }
}

/// Holds each request while the mock hangs, and the answer it was told to
/// hold.
async fn hang_while_told(
    State((hanging, held)): State<(watch::Receiver<bool>, Held)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut hanging = hanging.clone();
    let _ = hanging.wait_for(|hanging| !hanging).await;
    let route = format!("{} {}", request.method(), request.uri().path());
    let hold = {
        let mut held = held.lock().expect("not poisoned");
        match held.take() {
            Some((wanted, hold)) if wanted == route => Some(hold),
            other => {
                *held = other;
                None
            }
        }
    };
    let response = next.run(request).await;
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    response
}

type Shared = State<Arc<Mutex<Books>>>;

/// Records the request; Stripe's 500 to answer with while failing.
fn record(
    books: &Arc<Mutex<Books>>,
    method: &str,
    path: String,
    headers: &HeaderMap,
    body: &str,
) -> Option<Response> {
    let mut books = books.lock().expect("not poisoned");
    let route = format!("{method} {path}");
    books.requests.push(Recorded {
        method: method.to_owned(),
        path,
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        form: form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect(),
    });
    let failing = books.failing || books.failing_routes.contains(&route);
    failing.then(|| {
        stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "An unknown error occurred",
        )
    })
}

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": kind, "message": message}})),
    )
        .into_response()
}

fn missing(what: &str, id: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("No such {what}: '{id}'"),
    )
}

async fn create_checkout(State(books): Shared, headers: HeaderMap, body: String) -> Response {
    if let Some(failed) = record(
        &books,
        "POST",
        "/v1/checkout/sessions".into(),
        &headers,
        &body,
    ) {
        return failed;
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut books = books.lock().expect("not poisoned");
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some((sent, id)) = key.as_ref().and_then(|key| books.keys.get(key)) {
        if *sent != body {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with.",
            );
        }
        return axum::Json(checkout_json(id, &books.checkouts[id])).into_response();
    }
    books.created += 1;
    let id = format!("cs_test_{}", books.created);
    if let Some(key) = key {
        books.keys.insert(key, (body.clone(), id.clone()));
    }
    let session = CheckoutSession {
        client_reference_id: form.get("client_reference_id").cloned(),
        customer: form.get("customer").cloned(),
        subscription: None,
        complete: false,
    };
    books.checkouts.insert(id.clone(), session.clone());
    axum::Json(checkout_json(&id, &session)).into_response()
}

async fn checkout_session(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/checkout/sessions/{id}");
    if let Some(failed) = record(&books, "GET", path, &headers, "") {
        return failed;
    }
    let books = books.lock().expect("not poisoned");
    match books.checkouts.get(&id) {
        Some(session) => axum::Json(checkout_json(&id, session)).into_response(),
        None => missing("checkout.session", &id),
    }
}

async fn create_portal(State(books): Shared, headers: HeaderMap, body: String) -> Response {
    if let Some(failed) = record(
        &books,
        "POST",
        "/v1/billing_portal/sessions".into(),
        &headers,
        &body,
    ) {
        return failed;
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    axum::Json(json!({
        "id": "bps_test_1", "object": "billing_portal.session", "configuration": "bpc_test_1",
        "created": 1_800_000_000, "customer": form.get("customer"), "livemode": false,
        "return_url": form.get("return_url"),
        "url": format!("https://billing.stripe.test/p/session/{}", form.get("customer").map_or("", String::as_str)),
    }))
    .into_response()
}

async fn subscription(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/subscriptions/{id}");
    if let Some(failed) = record(&books, "GET", path, &headers, "") {
        return failed;
    }
    let books = books.lock().expect("not poisoned");
    match books.subscriptions.get(&id) {
        Some(subscription) => axum::Json(subscription_json(&id, subscription, &books.prices)).into_response(),
        None => missing("subscription", &id),
    }
}

/// A customer's subscriptions, whatever their status, newest first.
async fn list_subscriptions(
    State(books): Shared,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(failed) = record(&books, "GET", "/v1/subscriptions".into(), &headers, "") {
        return failed;
    }
    let books = books.lock().expect("not poisoned");
    let customer = query.get("customer");
    let mut theirs: Vec<(&String, &Subscription)> = books
        .subscriptions
        .iter()
        .filter(|(_, s)| Some(&s.customer) == customer)
        .collect();
    theirs.sort_by_key(|(id, s)| std::cmp::Reverse((s.created, (*id).clone())));
    axum::Json(json!({
        "object": "list", "url": "/v1/subscriptions", "has_more": false,
        "data": theirs.into_iter().map(|(id, s)| subscription_json(id, s, &books.prices)).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn update_subscription(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/v1/subscriptions/{id}");
    if let Some(failed) = record(&books, "POST", path, &headers, &body) {
        return failed;
    }
    let mut books = books.lock().expect("not poisoned");
    let prices = books.prices.clone();
    let declining = books.declining;
    let Some(subscription) = books.subscriptions.get_mut(&id) else {
        return missing("subscription", &id);
    };
    let form = form_of(&body);
    if declining
        && first(&form, "payment_behavior") == Some("pending_if_incomplete")
        && first(&form, "items[0][price]").is_some()
    {
        // The invoice for the change is not paid: the change waits, and
        // the subscription stays as it was.
        let mut answer = subscription_json(&id, subscription, &prices);
        let unpaid = Invoice {
            customer: subscription.customer.clone(),
            subscription: Some(id.clone()),
            tenant: subscription.tenant.clone(),
            status: "open".to_owned(),
            number: Some("CHANGE-0001".to_owned()),
            total: 100,
            amount_due: 100,
            created: subscription.created,
        };
        answer["pending_update"] = json!({"expires_at": subscription.created + 82_800});
        answer["latest_invoice"] = invoice_json("in_change", &unpaid);
        return axum::Json(answer).into_response();
    }
    for (key, value) in form_urlencoded::parse(body.as_bytes()) {
        match &*key {
            "cancel_at_period_end" => subscription.cancel_at_period_end = value == "true",
            "items[0][quantity]" => subscription.quantity = value.parse().unwrap_or(0),
            "items[0][price]" => {
                subscription.lookup_key = prices.get(&*value).and_then(|p| p.lookup_key.clone());
                subscription.price = value.into_owned();
            }
            _ => {}
        }
    }
    axum::Json(subscription_json(&id, subscription, &prices)).into_response()
}

async fn cancel_subscription(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/subscriptions/{id}");
    if let Some(failed) = record(&books, "DELETE", path, &headers, "") {
        return failed;
    }
    let mut books = books.lock().expect("not poisoned");
    let prices = books.prices.clone();
    let Some(subscription) = books.subscriptions.get_mut(&id) else {
        return missing("subscription", &id);
    };
    subscription.status = "canceled".to_owned();
    axum::Json(subscription_json(&id, subscription, &prices)).into_response()
}

fn form_of(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

fn first<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Metadata from a form's `metadata[key]=value` fields.
fn metadata_of(form: &[(String, String)]) -> HashMap<String, String> {
    form.iter()
        .filter_map(|(key, value)| {
            let key = key.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), value.clone()))
        })
        .collect()
}

async fn create_product(State(books): Shared, headers: HeaderMap, body: String) -> Response {
    if let Some(failed) = record(&books, "POST", "/v1/products".into(), &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let mut books = books.lock().expect("not poisoned");
    let id = first(&form, "id").unwrap_or("prod_test").to_owned();
    if books.products.contains_key(&id) {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!("Product already exists: {id}"),
        );
    }
    let product = Product {
        name: first(&form, "name").unwrap_or_default().to_owned(),
        description: first(&form, "description").map(str::to_owned),
        active: first(&form, "active") != Some("false"),
    };
    books.products.insert(id.clone(), product.clone());
    axum::Json(product_json(&id, &product)).into_response()
}

async fn product(State(books): Shared, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(failed) = record(&books, "GET", format!("/v1/products/{id}"), &headers, "") {
        return failed;
    }
    let books = books.lock().expect("not poisoned");
    match books.products.get(&id) {
        Some(product) => axum::Json(product_json(&id, product)).into_response(),
        None => missing("product", &id),
    }
}

async fn update_product(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(failed) = record(&books, "POST", format!("/v1/products/{id}"), &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let mut books = books.lock().expect("not poisoned");
    let Some(product) = books.products.get_mut(&id) else {
        return missing("product", &id);
    };
    if let Some(name) = first(&form, "name") {
        product.name = name.to_owned();
    }
    if let Some(description) = first(&form, "description") {
        product.description = Some(description.to_owned());
    }
    if let Some(active) = first(&form, "active") {
        product.active = active == "true";
    }
    axum::Json(product_json(&id, product)).into_response()
}

/// Prices filtered as Stripe filters them: by lookup keys, product and
/// whether active.
async fn list_prices(
    State(books): Shared,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = form_of(query.as_deref().unwrap_or_default());
    if let Some(failed) = record(&books, "GET", "/v1/prices".into(), &headers, "") {
        return failed;
    }
    let keys: Vec<&str> = query
        .iter()
        .filter(|(key, _)| key.starts_with("lookup_keys"))
        .map(|(_, value)| value.as_str())
        .collect();
    let books = books.lock().expect("not poisoned");
    let data: Vec<Value> = books
        .prices
        .iter()
        .filter(|(_, p)| keys.is_empty() || p.lookup_key.as_deref().is_some_and(|k| keys.contains(&k)))
        .filter(|(_, p)| first(&query, "product").is_none_or(|product| p.product == product))
        .filter(|(_, p)| first(&query, "active").is_none_or(|active| (active == "true") == p.active))
        .map(|(id, p)| price_json(id, p))
        .collect();
    axum::Json(json!({"object": "list", "url": "/v1/prices", "has_more": false, "data": data}))
        .into_response()
}

async fn create_price(State(books): Shared, headers: HeaderMap, body: String) -> Response {
    if let Some(failed) = record(&books, "POST", "/v1/prices".into(), &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let mut books = books.lock().expect("not poisoned");
    let lookup_key = first(&form, "lookup_key").map(str::to_owned);
    let holder = books
        .prices
        .iter()
        .find(|(_, p)| p.lookup_key.is_some() && p.lookup_key == lookup_key)
        .map(|(id, _)| id.clone());
    if let Some(holder) = holder {
        if first(&form, "transfer_lookup_key") != Some("true") {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("A price (`{holder}`) already uses that lookup key."),
            );
        }
        books.prices.get_mut(&holder).expect("held").lookup_key = None;
    }
    let Some(product) = first(&form, "product").filter(|p| books.products.contains_key(*p)) else {
        return missing("product", first(&form, "product").unwrap_or_default());
    };
    let tiers = (0..)
        .map_while(|i| {
            let up_to = first(&form, &format!("tiers[{i}][up_to]"))?;
            let amount = first(&form, &format!("tiers[{i}][unit_amount]"))?;
            Some((up_to.parse().ok(), amount.parse().unwrap_or(0)))
        })
        .collect();
    let price = Price {
        product: product.to_owned(),
        lookup_key,
        active: true,
        currency: first(&form, "currency").unwrap_or_default().to_owned(),
        interval: first(&form, "recurring[interval]").unwrap_or_default().to_owned(),
        unit_amount: first(&form, "unit_amount").and_then(|a| a.parse().ok()),
        tiers,
    };
    books.made += 1;
    let id = format!("price_made_{}", books.made);
    books.prices.insert(id.clone(), price.clone());
    axum::Json(price_json(&id, &price)).into_response()
}

async fn update_price(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(failed) = record(&books, "POST", format!("/v1/prices/{id}"), &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let mut books = books.lock().expect("not poisoned");
    let Some(price) = books.prices.get_mut(&id) else {
        return missing("price", &id);
    };
    if let Some(active) = first(&form, "active") {
        price.active = active == "true";
    }
    axum::Json(price_json(&id, price)).into_response()
}

async fn list_configurations(
    State(books): Shared,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = form_of(query.as_deref().unwrap_or_default());
    let path = "/v1/billing_portal/configurations".to_owned();
    if let Some(failed) = record(&books, "GET", path, &headers, "") {
        return failed;
    }
    let books = books.lock().expect("not poisoned");
    let data: Vec<Value> = books
        .configurations
        .iter()
        .filter(|(_, c)| first(&query, "active").is_none_or(|active| (active == "true") == c.active))
        .map(|(id, c)| configuration_json(id, c))
        .collect();
    axum::Json(json!({"object": "list", "url": "/v1/billing_portal/configurations", "has_more": false, "data": data}))
        .into_response()
}

async fn create_configuration(State(books): Shared, headers: HeaderMap, body: String) -> Response {
    let path = "/v1/billing_portal/configurations".to_owned();
    if let Some(failed) = record(&books, "POST", path, &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let mut books = books.lock().expect("not poisoned");
    books.made += 1;
    let id = format!("bpc_made_{}", books.made);
    let configuration = PortalConfiguration {
        active: true,
        metadata: metadata_of(&form),
        form,
    };
    books.configurations.insert(id.clone(), configuration.clone());
    axum::Json(configuration_json(&id, &configuration)).into_response()
}

async fn update_configuration(
    State(books): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/v1/billing_portal/configurations/{id}");
    if let Some(failed) = record(&books, "POST", path, &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let mut books = books.lock().expect("not poisoned");
    let Some(configuration) = books.configurations.get_mut(&id) else {
        return missing("billing_portal.configuration", &id);
    };
    if let Some(active) = first(&form, "active") {
        configuration.active = active == "true";
    }
    axum::Json(configuration_json(&id, configuration)).into_response()
}

/// The invoice a subscription change would make now, prorated as Stripe
/// does: the difference between the new and the old price (times their
/// quantities) for the part of the period left after the proration date.
async fn preview_invoice(State(books): Shared, headers: HeaderMap, body: String) -> Response {
    let path = "/v1/invoices/create_preview".to_owned();
    if let Some(failed) = record(&books, "POST", path, &headers, &body) {
        return failed;
    }
    let form = form_of(&body);
    let books = books.lock().expect("not poisoned");
    let id = first(&form, "subscription").unwrap_or_default();
    let Some(subscription) = books.subscriptions.get(id) else {
        return missing("subscription", id);
    };
    let details = |field: &str| first(&form, &format!("subscription_details[{field}]"));
    let new_price = details("items][0][price").unwrap_or_default();
    let Some(new) = books.prices.get(new_price) else {
        return missing("price", new_price);
    };
    let amount = |price: Option<&Price>| price.and_then(|p| p.unit_amount).unwrap_or(2900);
    let quantity: i64 = details("items][0][quantity").and_then(|q| q.parse().ok()).unwrap_or(1);
    let at: i64 = details("proration_date").and_then(|d| d.parse().ok()).unwrap_or_default();
    let period = 30 * 86_400;
    let left = (subscription.period_end - at).clamp(0, period);
    let old = price_of(&subscription.price, &books.prices, subscription.lookup_key.as_ref());
    let unused = old.unit_amount.unwrap_or(0) * subscription.quantity * left / period;
    // Another interval starts a new period now: the whole new price, less
    // what is unused of the old; the same interval, the difference for
    // what is left.
    let total = if new.interval == old.interval {
        amount(Some(new)) * quantity * left / period - unused
    } else {
        amount(Some(new)) * quantity - unused
    };
    let preview = Invoice {
        customer: subscription.customer.clone(),
        subscription: Some(id.to_owned()),
        tenant: subscription.tenant.clone(),
        status: "draft".to_owned(),
        number: None,
        total,
        amount_due: total.max(0),
        created: at,
    };
    axum::Json(invoice_json("upcoming_in", &preview)).into_response()
}

async fn invoice(State(books): Shared, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(failed) = record(&books, "GET", format!("/v1/invoices/{id}"), &headers, "") {
        return failed;
    }
    let books = books.lock().expect("not poisoned");
    match books.invoices.get(&id) {
        Some(invoice) => axum::Json(invoice_json(&id, invoice)).into_response(),
        None => missing("invoice", &id),
    }
}

/// An invoice with the fields the pinned API version requires; a
/// subscription's names it (and its metadata) in `parent`.
fn invoice_json(id: &str, i: &Invoice) -> Value {
    let finalized = i.status != "draft";
    let parent = i.subscription.as_ref().map(|subscription| json!({
        "type": "subscription_details", "quote_details": null,
        "subscription_details": {
            "subscription": subscription,
            "metadata": if i.tenant.is_empty() { json!({}) } else { json!({"tenant_id": i.tenant}) },
        },
    }));
    json!({
        "id": id, "object": "invoice", "customer": i.customer, "status": i.status,
        "number": i.number, "total": i.total, "subtotal": i.total, "amount_due": i.amount_due,
        "amount_paid": i.total - i.amount_due, "amount_remaining": i.amount_due,
        "amount_overpaid": 0, "amount_shipping": 0, "attempt_count": 1, "attempted": true,
        "automatic_tax": {"enabled": false, "liability": null, "status": null, "provider": null, "disabled_reason": null},
        "collection_method": "charge_automatically", "created": i.created, "currency": "eur",
        "default_tax_rates": [], "discounts": [], "issuer": {"type": "self"},
        "lines": {"object": "list", "url": format!("/v1/invoices/{id}/lines"), "has_more": false, "data": []},
        "livemode": false, "metadata": {}, "parent": parent,
        "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
        "period_end": i.created, "period_start": i.created - 30 * 86_400,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "starting_balance": 0,
        "status_transitions": {"finalized_at": finalized.then_some(i.created), "marked_uncollectible_at": null, "paid_at": null, "voided_at": null},
        "hosted_invoice_url": finalized.then(|| format!("https://invoice.stripe.test/i/{id}")),
        "invoice_pdf": finalized.then(|| format!("https://pay.stripe.test/invoice/{id}/pdf")),
    })
}

fn product_json(id: &str, product: &Product) -> Value {
    json!({
        "id": id, "object": "product", "active": product.active, "created": 1_800_000_000,
        "updated": 1_800_000_000, "default_price": null, "description": product.description,
        "images": [], "livemode": false, "marketing_features": [], "metadata": {},
        "name": product.name, "package_dimensions": null, "shippable": null,
        "statement_descriptor": null, "tax_code": null, "type": "service", "unit_label": null, "url": null,
    })
}

fn price_json(id: &str, price: &Price) -> Value {
    let tiered = !price.tiers.is_empty();
    json!({
        "id": id, "object": "price", "active": price.active,
        "billing_scheme": if tiered { "tiered" } else { "per_unit" },
        "created": 1_800_000_000, "currency": price.currency, "livemode": false, "metadata": {},
        "product": price.product, "type": "recurring", "unit_amount": price.unit_amount,
        "recurring": {"interval": price.interval, "interval_count": 1, "usage_type": "licensed", "meter": null, "trial_period_days": null},
        "tax_behavior": "unspecified", "lookup_key": price.lookup_key, "nickname": null,
        "tiers_mode": if tiered { json!("graduated") } else { Value::Null },
        "tiers": tiered.then(|| price.tiers.iter().map(|(up_to, amount)| json!({
            "up_to": up_to, "unit_amount": amount, "unit_amount_decimal": amount.to_string(),
            "flat_amount": null, "flat_amount_decimal": null,
        })).collect::<Vec<_>>()),
    })
}

/// A configuration with the fields the pinned API version requires; its
/// subscription update products from what it was made with.
fn configuration_json(id: &str, c: &PortalConfiguration) -> Value {
    let products: Vec<Value> = (0..)
        .map_while(|i| {
            let product = c.field(&format!("features[subscription_update][products][{i}][product]"))?;
            let prices: Vec<&str> = (0..)
                .map_while(|j| c.field(&format!("features[subscription_update][products][{i}][prices][{j}]")))
                .collect();
            Some(json!({"product": product, "prices": prices, "adjustable_quantity": {"enabled": false, "maximum": null, "minimum": 1}}))
        })
        .collect();
    json!({
        "id": id, "object": "billing_portal.configuration", "active": c.active, "application": null,
        "business_profile": {"headline": c.field("business_profile[headline]"), "privacy_policy_url": null, "terms_of_service_url": null},
        "created": 1_800_000_000, "updated": 1_800_000_000, "default_return_url": c.field("default_return_url"),
        "features": {
            "customer_update": {"allowed_updates": [], "enabled": true},
            "invoice_history": {"enabled": true},
            "payment_method_update": {"enabled": true, "payment_method_configuration": null},
            "subscription_cancel": {"cancellation_reason": {"enabled": false, "options": []}, "enabled": true, "mode": "at_period_end", "proration_behavior": "none"},
            "subscription_update": {"billing_cycle_anchor": null, "default_allowed_updates": ["price"], "enabled": true, "products": products,
                "proration_behavior": "create_prorations", "schedule_at_period_end": {"conditions": []}, "trial_update_behavior": "end_trial"},
        },
        "is_default": false, "livemode": false, "login_page": {"enabled": false, "url": null},
        "metadata": c.metadata, "name": c.field("name"),
    })
}

/// A Checkout Session with the fields the pinned API version requires.
fn checkout_json(id: &str, session: &CheckoutSession) -> Value {
    json!({
        "id": id, "object": "checkout.session", "mode": "subscription",
        "status": if session.complete { "complete" } else { "open" },
        "payment_status": if session.complete { "paid" } else { "unpaid" },
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        "client_reference_id": session.client_reference_id,
        "customer": session.customer, "subscription": session.subscription,
        "metadata": {}, "livemode": false, "created": 1_800_000_000, "expires_at": 1_800_086_400,
        "automatic_tax": {"enabled": false, "liability": null, "status": null, "provider": null},
        "currency": "eur", "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "payment_method_types": ["card"], "shipping_options": [],
    })
}

/// A subscription with one item, with the fields the pinned API version
/// requires.
/// A subscription's price as Stripe has it: from the mock's prices when it
/// is one of them (its lookup key is the price's: a replaced price has
/// none), else €29 a month of a product of no plan, with the lookup key the
/// test gave the subscription.
fn price_of(id: &str, prices: &BTreeMap<String, Price>, lookup_key: Option<&String>) -> Price {
    prices.get(id).cloned().unwrap_or_else(|| Price {
        product: "prod_test_pro".to_owned(),
        lookup_key: lookup_key.cloned(),
        active: true,
        currency: "eur".to_owned(),
        interval: "month".to_owned(),
        unit_amount: Some(2900),
        tiers: Vec::new(),
    })
}

fn subscription_json(id: &str, s: &Subscription, prices: &BTreeMap<String, Price>) -> Value {
    let of = price_of(&s.price, prices, s.lookup_key.as_ref());
    let price = price_json(&s.price, &of);
    let plan = json!({
        "id": s.price, "object": "plan", "active": true, "amount": of.unit_amount, "billing_scheme": "per_unit",
        "created": 1_800_000_000, "currency": of.currency, "interval": of.interval, "interval_count": 1,
        "livemode": false, "metadata": {}, "product": of.product, "usage_type": "licensed",
    });
    json!({
        "id": id, "object": "subscription", "status": s.status, "customer": s.customer,
        // One made in Stripe's dashboard names no tenant.
        "metadata": if s.tenant.is_empty() { json!({}) } else { json!({"tenant_id": s.tenant}) },
        "cancel_at_period_end": s.cancel_at_period_end,
        "cancel_at": if s.cancel_at_period_end { json!(s.period_end) } else { Value::Null },
        "created": s.created, "start_date": s.created, "billing_cycle_anchor": s.created,
        "currency": "eur", "livemode": false, "collection_method": "charge_automatically", "discounts": [],
        "automatic_tax": {"enabled": false, "liability": null, "disabled_reason": null},
        "billing_mode": {"type": "classic"}, "billing_schedules": [],
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": {"object": "list", "url": "/v1/subscription_items", "has_more": false, "data": [{
            "id": format!("si_{id}"), "object": "subscription_item", "created": 1_800_000_000,
            "current_period_start": s.period_end - 30 * 86_400, "current_period_end": s.period_end,
            "metadata": {}, "subscription": id, "discounts": [], "tax_rates": [], "quantity": s.quantity,
            "price": price, "plan": plan,
        }]},
    })
}

/// A `Stripe-Signature` header for `payload`, as Stripe computes it:
/// HMAC-SHA256 of `"{t}.{payload}"` with the endpoint's secret.
pub fn sign(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// An event as Stripe sends it (its envelope, in another API version than
/// the client's: the app must only read what routing needs).
pub fn event(id: &str, kind: &str, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2024-06-20", "created": 1_800_000_000,
        "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "data": {"object": object}, "type": kind,
    })
    .to_string()
}
