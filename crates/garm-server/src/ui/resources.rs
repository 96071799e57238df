//! Endpoints, credentials and the controller's settings.

use super::html::{self, e, form, thead, Field, Kind};
use super::{field, page, see_other, store_fail, FormData, Fragment, Refresh, Session};
use crate::api::{controller, forge};
use crate::error::ApiError;
use crate::state::App;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use garm_api_types as api;
use std::fmt::Write;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/endpoints", get(endpoints).post(create_endpoint))
        .route("/ui/credentials", get(credentials).post(create_credentials))
        .route("/ui/credentials/app", post(create_app_credentials))
        .route("/ui/controller", get(controller_page).post(update_controller))
}

async fn render_endpoints(
    app: &App,
    s: &Session,
    frag: &Fragment,
    v: &FormData,
    error: Option<&str>,
) -> Result<Response, Response> {
    let list = app.store.endpoints("github").await.map_err(store_fail)?;
    let mut out = String::from("<h1>Endpoints</h1>");
    thead(
        &mut out,
        "GitHub endpoints",
        &["Name", "Description", "Base URL", "API URL", "Actions"],
    );
    for x in &list {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            e(&x.name),
            e(&x.description),
            e(&x.base_url),
            e(&x.api_base_url)
        );
        super::deletes::link(
            &mut out,
            &format!("/ui/endpoints/{}/delete", html::url_part(&x.name)),
            &format!("Delete {}…", x.name),
        );
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table><h2>Add an endpoint</h2>");
    let val = |k: &str| v.get(k).cloned().unwrap_or_default();
    form(
        &mut out,
        "/ui/endpoints",
        &s.csrf,
        &[
            Field::new("name", "Name", Kind::Text).value(val("name")).required(),
            Field::new("description", "Description", Kind::Text).value(val("description")),
            Field::new("base_url", "Base URL", Kind::Url)
                .value(val("base_url"))
                .required(),
            Field::new("api_base_url", "API base URL", Kind::Url)
                .value(val("api_base_url"))
                .required(),
            Field::new("upload_base_url", "Upload base URL", Kind::Url)
                .value(val("upload_base_url"))
                .required(),
        ],
        "Add endpoint",
        error,
    );
    Ok(page(s, frag, "Endpoints", "/ui/endpoints", Refresh::Static, &out))
}

async fn endpoints(State(app): State<App>, s: Session, frag: Fragment) -> Result<Response, Response> {
    render_endpoints(&app, &s, &frag, &FormData::new(), None).await
}

async fn create_endpoint(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let params = api::CreateGithubEndpointParams {
        name: field(&f, "name").trim().into(),
        description: field(&f, "description").into(),
        base_url: field(&f, "base_url").trim().into(),
        api_base_url: field(&f, "api_base_url").trim().into(),
        upload_base_url: field(&f, "upload_base_url").trim().into(),
        ..Default::default()
    };
    match forge::create_endpoint(State(app.clone()), Ok(Json(params))).await {
        Ok(_) => Ok(see_other("/ui/endpoints")),
        Err(err) => {
            let mut resp = render_endpoints(&app, &s, &frag, &f, Some(&super::message(&err))).await?;
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}

async fn render_credentials(
    app: &App,
    s: &Session,
    frag: &Fragment,
    v: &FormData,
    error: Option<&str>,
) -> Result<Response, Response> {
    // The error goes above the form that was sent.
    let app_form = v.contains_key("app_name");
    let (pat_error, app_error) = if app_form { (None, error) } else { (error, None) };
    let list = app.store.list_credentials("github").await.map_err(store_fail)?;
    let endpoints = app.store.endpoints("github").await.map_err(store_fail)?;
    let mut out = String::from("<h1>Credentials</h1>");
    thead(
        &mut out,
        "GitHub credentials",
        &["Name", "Description", "Endpoint", "Auth", "Rate limit", "Actions"],
    );
    for c in &list {
        let rate =
            forge::rate_limit(app, c.id).map_or(String::new(), |r| format!("{} of {} left", r.remaining, r.limit));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            e(&c.name),
            e(&c.description),
            e(&c.endpoint_name),
            e(c.secret.auth_type()),
            e(&rate)
        );
        super::deletes::link(
            &mut out,
            &format!("/ui/credentials/{}/delete", c.id),
            &format!("Delete {}…", c.name),
        );
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table><h2>Add credentials (personal access token)</h2>");
    let val = |k: &str| v.get(k).cloned().unwrap_or_default();
    let endpoint_options: Vec<(String, String)> = endpoints.iter().map(|x| (x.name.clone(), x.name.clone())).collect();
    form(
        &mut out,
        "/ui/credentials",
        &s.csrf,
        &[
            Field::new("name", "Name", Kind::Text).value(val("name")).required(),
            Field::new("description", "Description", Kind::Text).value(val("description")),
            Field::new("endpoint", "Endpoint", Kind::Select(endpoint_options.clone())).value(val("endpoint")),
            Field::new("token", "Personal access token", Kind::Password).required(),
        ],
        "Add credentials",
        pat_error,
    );
    // The App form's controls carry their own names, so both forms' labels stay unique.
    out.push_str("<h2 id=\"app-credentials\">Add credentials (GitHub App)</h2><div class=\"field\"><label for=\"key-file\">Private key file (.pem), read into the key field below</label><input type=\"file\" id=\"key-file\" accept=\".pem,.key,text/plain\" data-fill=\"f-private_key\"></div>");
    form(
        &mut out,
        "/ui/credentials/app",
        &s.csrf,
        &[
            Field::new("app_name", "Name", Kind::Text)
                .value(val("app_name"))
                .required(),
            Field::new("app_description", "Description", Kind::Text).value(val("app_description")),
            Field::new("app_endpoint", "Endpoint", Kind::Select(endpoint_options)).value(val("app_endpoint")),
            Field::new("app_id", "App id", Kind::Number)
                .value(val("app_id"))
                .required(),
            Field::new("installation_id", "Installation id", Kind::Number)
                .value(val("installation_id"))
                .required(),
            Field::new("private_key", "Private key (PEM)", Kind::SecretTextarea)
                .required()
                .help("Paste the key or choose its file above. It is stored sealed and never shown again."),
        ],
        "Add App credentials",
        app_error,
    );
    Ok(page(s, frag, "Credentials", "/ui/credentials", Refresh::Static, &out))
}

async fn credentials(State(app): State<App>, s: Session, frag: Fragment) -> Result<Response, Response> {
    render_credentials(&app, &s, &frag, &FormData::new(), None).await
}

async fn create_credentials(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let params = api::CreateGithubCredentialsParams {
        name: field(&f, "name").trim().into(),
        description: field(&f, "description").into(),
        endpoint: field(&f, "endpoint").into(),
        auth_type: "pat".into(),
        pat: Some(api::PatParams {
            oauth2_token: field(&f, "token").trim().into(),
        }),
        app: None,
    };
    match forge::create_credentials(State(app.clone()), Ok(Json(params))).await {
        Ok(_) => Ok(see_other("/ui/credentials")),
        Err(err) => {
            let mut resp = render_credentials(&app, &s, &frag, &f, Some(&super::message(&err))).await?;
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}

async fn create_app_credentials(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let result = async {
        let id = |k: &str| {
            let text = field(&f, k).trim();
            text.parse::<i64>()
                .map_err(|_| ApiError::bad(format!("{k}: must be a whole number, not {text:?}")))
        };
        let params = api::CreateGithubCredentialsParams {
            name: field(&f, "app_name").trim().into(),
            description: field(&f, "app_description").into(),
            endpoint: field(&f, "app_endpoint").into(),
            auth_type: "app".into(),
            pat: None,
            app: Some(api::AppParams {
                app_id: id("app_id")?,
                installation_id: id("installation_id")?,
                private_key_bytes: field(&f, "private_key")
                    .replace("\r\n", "\n")
                    .trim()
                    .as_bytes()
                    .to_vec(),
            }),
        };
        forge::create_credentials(State(app.clone()), Ok(Json(params))).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/ui/credentials")),
        Err(err) => {
            let mut resp = render_credentials(&app, &s, &frag, &f, Some(&super::message(&err))).await?;
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}

async fn render_controller(app: &App, s: &Session, frag: &Fragment, error: Option<&str>) -> Result<Response, Response> {
    let c = app.store.controller().await.map_err(store_fail)?;
    let mut out = format!(
        "<h1>Controller</h1><dl class=\"props\"><dt>Controller id</dt><dd>{}</dd><dt>Webhook URL for GitHub</dt><dd><code>{}/{}</code></dd></dl><h2>Settings</h2>",
        e(&c.controller_id),
        e(&c.webhook_url),
        e(&c.controller_id)
    );
    form(
        &mut out,
        "/ui/controller",
        &s.csrf,
        &[
            Field::new("metadata_url", "Metadata URL", Kind::Url).value(c.metadata_url.clone()),
            Field::new("callback_url", "Callback URL", Kind::Url).value(c.callback_url.clone()),
            Field::new("webhook_url", "Webhook URL", Kind::Url).value(c.webhook_url.clone()),
            Field::new(
                "minimum_job_age_backoff",
                "Minimum job age backoff (seconds)",
                Kind::Number,
            )
            .value(c.minimum_job_age_backoff.to_string()),
        ],
        "Save settings",
        error,
    );
    Ok(page(s, frag, "Controller", "/ui/controller", Refresh::Static, &out))
}

async fn controller_page(State(app): State<App>, s: Session, frag: Fragment) -> Result<Response, Response> {
    render_controller(&app, &s, &frag, None).await
}

async fn update_controller(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let backoff = field(&f, "minimum_job_age_backoff").trim();
    let result = async {
        let backoff = if backoff.is_empty() {
            None
        } else {
            Some(
                backoff
                    .parse::<u32>()
                    .map_err(|_| ApiError::bad("minimum_job_age_backoff: must be a whole number"))?,
            )
        };
        let params = api::UpdateControllerParams {
            metadata_url: Some(field(&f, "metadata_url").trim().into()),
            callback_url: Some(field(&f, "callback_url").trim().into()),
            webhook_url: Some(field(&f, "webhook_url").trim().into()),
            minimum_job_age_backoff: backoff,
            ..Default::default()
        };
        controller::update(State(app.clone()), Ok(Json(params))).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/ui/controller")),
        Err(err) => {
            let mut resp = render_controller(&app, &s, &frag, Some(&super::message(&err))).await?;
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}
