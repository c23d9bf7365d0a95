//! The route registry. axum can't list its routes, so every route is added
//! through [`Routes::add`], which records its path, methods and access. The
//! isolation suite enumerates tenant-scoped routes from here (HTML pages
//! included), so a new tenant route without a test fails the build's tests.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;

use super::AppState;

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
    /// A machine credential that names its tenant (a kiosk's device token),
    /// sent as `Authorization: Bearer`, outside the `/t/{slug}` space.
    Credential,
}

/// One registered route, as the isolation suite sees it.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    pub path: &'static str,
    pub methods: Vec<Method>,
    pub access: Access,
}

/// A router that remembers what it holds.
#[must_use]
pub struct Routes {
    router: Router<AppState>,
    infos: Vec<RouteInfo>,
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
        }
    }

    pub fn add(mut self, path: &'static str, access: Access, endpoint: Endpoint) -> Self {
        self.router = self.router.route(path, endpoint.router);
        self.infos.push(RouteInfo {
            path,
            methods: endpoint.methods,
            access,
        });
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.infos.extend(other.infos);
        self
    }

    pub fn infos(&self) -> &[RouteInfo] {
        &self.infos
    }

    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }
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
