//! The route registry. axum can't list its routes, so every route is added
//! through [`Routes::add`] (pages) or [`Routes::api`] (the JSON API), which
//! record its path, methods and access. The isolation suite enumerates
//! tenant-scoped routes from here (HTML pages included), so a new tenant
//! route without a test fails the build's tests. An API route's method and
//! path are read from its handler's `#[utoipa::path]`, and the registry
//! gathers those operations into the OpenAPI document: each is written once.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use utoipa::openapi::path::PathItem;
use utoipa_axum::router::UtoipaMethodRouter;

use super::AppState;
use crate::tenancy::{Action, Member, Tenant};

/// Who may reach a route. Tenant-scoped routes live under `/t/{slug}/…`
/// (pages) or `/api/v1/t/{slug}/…` (JSON API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in user, inside no tenant (the tenant switcher).
    SignedIn,
    /// A member of the tenant named by the `{slug}` in the path.
    Tenant,
    /// A signed-in super-admin (anyone else gets 404).
    SuperAdmin,
    /// A machine credential that names its tenant (a device's token),
    /// sent as `Authorization: Bearer`, outside the `/t/{slug}` space.
    Credential,
}

/// One registered route, as the isolation suite sees it.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    pub path: String,
    pub methods: Vec<Method>,
    pub access: Access,
}

/// A router that remembers what it holds.
#[must_use]
pub struct Routes {
    router: Router<AppState>,
    infos: Vec<RouteInfo>,
    /// The API routes' operations and the schemas they name.
    openapi: utoipa::openapi::OpenApi,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            infos: Vec::new(),
            openapi: utoipa::openapi::OpenApi::default(),
        }
    }

    /// A page (or any route outside the documented API).
    pub fn add(mut self, path: &str, access: Access, endpoint: Endpoint) -> Self {
        self.router = self.router.route(path, endpoint.router);
        self.infos.push(RouteInfo {
            path: path.to_owned(),
            methods: endpoint.methods,
            access,
        });
        self
    }

    /// An API route: `utoipa_axum::routes!(list, create)` names the handlers
    /// of one path, whose `#[utoipa::path]` annotations give the methods and
    /// the path, for the router and for the document alike.
    ///
    /// # Panics
    /// When the handlers name more than one path: a programming error that
    /// every test run would show at once.
    pub fn api(mut self, access: Access, handlers: UtoipaMethodRouter<AppState>) -> Self {
        let (schemas, paths, router) = handlers;
        assert_eq!(
            paths.paths.len(),
            1,
            "one path per Routes::api call: {:?}",
            paths.paths.keys().collect::<Vec<_>>()
        );
        for (path, item) in paths.paths {
            self.router = self.router.route(&path, router.clone());
            self.infos.push(RouteInfo {
                methods: methods_of(&item),
                path: path.clone(),
                access,
            });
            self.openapi.paths.paths.insert(path, item);
        }
        self.openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.infos.extend(other.infos);
        self.openapi.merge(other.openapi);
        self
    }

    pub fn infos(&self) -> &[RouteInfo] {
        &self.infos
    }

    /// The API routes' part of the OpenAPI document: their operations and
    /// the schemas those name.
    pub fn openapi(&self) -> &utoipa::openapi::OpenApi {
        &self.openapi
    }

    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// The methods a documented path answers.
fn methods_of(item: &PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::DELETE, item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// The handlers of one path, with the methods they answer.
#[must_use]
pub struct Endpoint {
    methods: Vec<Method>,
    router: MethodRouter<AppState>,
}

/// Defines a constructor (`get(handler)`) and a chaining method
/// (`.post(handler)`) per HTTP method, mirroring axum's own routing API.
macro_rules! methods {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            pub fn $name<H, T>(handler: H) -> Endpoint
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Endpoint { methods: vec![Method::$method], router: axum::routing::$name(handler) }
            }
        )*

        impl Endpoint {
            $(
                pub fn $name<H, T>(mut self, handler: H) -> Self
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

methods!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

/// What the public landing page says of the product. The first capability
/// with one (a product module) speaks for the app ([`Pitch::STARTER`] when
/// none does): its words live with it, so an app generated without it says
/// nothing of it.
#[derive(Debug)]
pub struct Pitch {
    /// The line above the headline.
    pub eyebrow: &'static str,
    pub headline: &'static str,
    /// What follows the app's name in the first paragraph.
    pub lead: &'static str,
    /// Three features: a title and a sentence each.
    pub features: &'static [(&'static str, &'static str)],
    /// Who the paid plan is for.
    pub paid_plan_for: &'static str,
}

impl Pitch {
    /// The starter's own, for an app with no product module.
    pub const STARTER: Pitch = Pitch {
        eyebrow: "One app, every organisation",
        headline: "Your product, ready for every organisation that signs up.",
        lead: "gives each organisation its own space: members with roles, locations, \
               billing, and data no other organisation can reach.",
        features: &[
            (
                "Every organisation apart",
                "Each customer's data is kept apart from every other's, by the app and by the \
                 database underneath.",
            ),
            (
                "Roles that fit the team",
                "Owners see everything; admins and managers run what they are given; staff see \
                 their own.",
            ),
            (
                "Billing built in",
                "Start free, upgrade when you grow: checkout, invoices and plan limits included.",
            ),
        ],
        paid_plan_for: "For teams that have outgrown the free plan.",
    };
}

/// A link in a tenant's navigation.
#[derive(Clone, Debug)]
pub struct NavLink {
    pub label: &'static str,
    /// Absolute path, under `/t/{slug}/`.
    pub href: String,
}

impl NavLink {
    /// A link to the tenant's page `/t/{slug}/{page}`.
    pub fn to(tenant: &Tenant, label: &'static str, page: &str) -> Self {
        Self {
            label,
            href: format!("/t/{}/{page}", tenant.slug),
        }
    }

    /// The link to `page`, when the member may take `action` (the page's
    /// own check), else none.
    pub fn if_allowed(
        tenant: &Tenant,
        member: &Member,
        action: Action,
        label: &'static str,
        page: &str,
    ) -> Vec<Self> {
        member
            .authorize(action)
            .map(|()| Self::to(tenant, label, page))
            .into_iter()
            .collect()
    }
}

/// A capability's links in a tenant's navigation, as this member sees them
/// (`Capability::nav`).
pub type Navigation = fn(&Tenant, &Member) -> Vec<NavLink>;
