//! The HTTP router: every route (REST, websockets, web UI), trailing-slash tolerance, CORS
//! preflight, and garm's middleware order (init check, URLs check, token, admin).

use crate::api::{
    controller, entities, forge, hooks, metadata, metrics, pools, proxies, replicas, require_init, runners, scalesets,
    templates, webhook,
};
use crate::auth::admin_claims;
use crate::error::{api_not_found, ApiError};
use crate::state::App;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tower::ServiceExt;

/// 409 `urls_required` until the metadata and callback URLs are set.
async fn require_urls(app: &App) -> Result<(), ApiError> {
    let c = app.store.controller().await?;
    if c.metadata_url.is_empty() || c.callback_url.is_empty() {
        Err(ApiError::UrlsRequired)
    } else {
        Ok(())
    }
}

async fn guard_admin(State(app): State<App>, req: Request, next: Next) -> Result<Response, ApiError> {
    require_init(&app).await?;
    let headers = req.headers().clone();
    admin_claims(&app, &headers).await?;
    Ok(next.run(req).await)
}

async fn guard_admin_urls(State(app): State<App>, req: Request, next: Next) -> Result<Response, ApiError> {
    require_init(&app).await?;
    require_urls(&app).await?;
    let headers = req.headers().clone();
    admin_claims(&app, &headers).await?;
    Ok(next.run(req).await)
}

/// Unknown `/api/v1` paths pass the same checks before their JSON 404; others get plain text.
async fn fallback(State(app): State<App>, req: Request) -> Response {
    if !req.uri().path().starts_with("/api/v1") {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    }
    let headers = req.headers().clone();
    let checks = async {
        require_init(&app).await?;
        require_urls(&app).await?;
        admin_claims(&app, &headers).await
    };
    match checks.await {
        Ok(_) => api_not_found(),
        Err(err) => err.into_response(),
    }
}

/// The routes, without trailing-slash handling (see [`service`]).
pub fn routes(app: App) -> Router {
    let open = Router::new()
        .route("/api/v1/first-run", post(controller::first_run))
        .route("/api/v1/auth/login", post(controller::login))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(replicas::healthz))
        .route("/readyz", get(replicas::readyz))
        .merge(metadata::routes())
        .merge(
            Router::new()
                .route("/webhooks", any(webhook::receive))
                .route("/webhooks/{controller_id}", any(webhook::with_controller))
                .layer(DefaultBodyLimit::max(webhook::MAX_BODY)),
        );

    let admin = Router::new()
        .route("/api/v1/controller", get(controller::show).put(controller::update))
        .route_layer(from_fn_with_state(app.clone(), guard_admin));

    let admin_urls = Router::new()
        .route("/api/v1/controller-info", get(controller::show))
        .route("/api/v1/metrics-token", get(controller::metrics_token))
        .route("/api/v1/providers", get(runners::providers))
        .route("/api/v1/jobs", get(runners::jobs))
        .route("/api/v1/leases", get(replicas::list))
        .merge(forge::routes())
        .merge(entities::routes())
        .merge(pools::routes())
        .merge(scalesets::routes())
        .merge(runners::routes())
        .merge(templates::routes())
        .merge(proxies::routes())
        .merge(crate::ws::routes())
        .merge(if app.config.enable_webhook_management {
            hooks::routes()
        } else {
            Router::new()
        })
        .route_layer(from_fn_with_state(app.clone(), guard_admin_urls));

    let ui = if app.config.webui {
        crate::ui::routes()
    } else {
        Router::new()
    };
    open.merge(admin)
        .merge(admin_urls)
        .merge(ui)
        .fallback(fallback)
        .with_state(app)
}

fn strip_trailing_slash(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Answers CORS preflight requests and adds CORS headers for allowed origins.
async fn cors(State(app): State<App>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().and_then(|o| o.to_str().ok()).is_some_and(|o| {
        app.config
            .cors_origins
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(o))
    });
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(req).await
    };
    if allowed {
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            origin.expect("allowed implies an Origin header"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, OPTIONS, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("X-Requested-With, Content-Type, Authorization"),
        );
    }
    resp
}

/// The whole HTTP service: every route answers with and without a trailing slash.
pub fn service(app: App) -> Router {
    let inner = routes(app.clone()).map_request(strip_trailing_slash);
    Router::new()
        .fallback_service(inner)
        .layer(from_fn_with_state(app.clone(), cors))
        .with_state(app)
}
