//! Built-in pages for the links in emails, served when `APP_URL` is not set (the embedded
//! default has no SPA): `/verify-email`, `/reset-password` and `/accept-invitation` show a
//! small form (no script, no external asset) that posts back to the same path, where the
//! server runs the same service the GraphQL mutation does. With `APP_URL` set the links
//! point at the SPA instead and these routes are not mounted.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::auth::Caller;

/// HTML-escapes `text` (for the built-in pages).
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Msingi</title><style>body{{font-family:system-ui,sans-serif;\
         max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}}label{{display:block;\
         margin:.8rem 0 .2rem}}input{{width:100%;padding:.5rem;box-sizing:border-box}}\
         button{{margin-top:1rem;padding:.6rem 1.2rem}}.error{{color:#a00}}.ok{{color:#060}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    ))
}

fn form(token: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">{fields}\
         <button type=\"submit\">{button}</button></form>",
        escape(token)
    )
}

fn field(name: &str, label: &str, kind: &str) -> String {
    format!(
        "<label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\">"
    )
}

fn outcome(title: &str, result: Result<String, crate::error::AppError>) -> Response {
    match result {
        Ok(message) => {
            page(title, &format!("<p class=\"ok\">{}</p>", escape(&message))).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            page(
                title,
                &format!("<p class=\"error\">{}</p>", escape(&e.to_string())),
            ),
        )
            .into_response(),
    }
}

fn token_of(query: &HashMap<String, String>) -> String {
    query.get("token").cloned().unwrap_or_default()
}

/// `GET /verify-email?token=…`.
pub(super) async fn verify_email_form(Query(query): Query<HashMap<String, String>>) -> Response {
    let body = form(
        &token_of(&query),
        "<p>Confirm that this email address is yours.</p>",
        "Confirm my email address",
    );
    page("Confirm your email address", &body).into_response()
}

/// `POST /verify-email`.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let result = crate::identity::recovery::verify_email(&state.services, &token_of(&fields))
        .await
        .map(|_| "Your email address is confirmed. You can close this page.".to_owned());
    outcome("Confirm your email address", result)
}

/// `GET /reset-password?token=…`.
pub(super) async fn reset_password_form(Query(query): Query<HashMap<String, String>>) -> Response {
    let body = form(
        &token_of(&query),
        &field(
            "newPassword",
            "New password (8 to 128 characters)",
            "password",
        ),
        "Set my new password",
    );
    page("Choose a new password", &body).into_response()
}

/// `POST /reset-password`.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let new_password = fields.get("newPassword").cloned().unwrap_or_default();
    let result = crate::identity::recovery::reset_password(
        &state.services,
        &token_of(&fields),
        &new_password,
    )
    .await
    .map(|_| {
        "Your password is changed, and every session was signed out. Log in again.".to_owned()
    });
    outcome("Choose a new password", result)
}

/// `GET /accept-invitation?token=…`.
pub(super) async fn accept_invitation_form(
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let fields = format!(
        "<p>New here? Give your name and choose a password. Already have an account? Give \
         its password.</p>{}{}",
        field("name", "Your name (new accounts)", "text"),
        field("password", "Password", "password")
    );
    let body = form(&token_of(&query), &fields, "Join");
    page("Join the team", &body).into_response()
}

/// `POST /accept-invitation`.
pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    parts: Parts,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let meta = super::graphql::meta(&state, &parts);
    let caller = Caller::anonymous(meta);
    let name = fields
        .get("name")
        .map(String::as_str)
        .filter(|n| !n.is_empty());
    let password = fields
        .get("password")
        .map(String::as_str)
        .filter(|p| !p.is_empty());
    let result = crate::identity::invitations::accept(
        &state.services,
        &caller,
        &token_of(&fields),
        name,
        password,
    )
    .await
    .map(|joined| {
        let tenant = joined
            .active_tenant
            .map(|(t, _)| t.name)
            .unwrap_or_default();
        format!("Welcome to {tenant}. You can log in now.")
    });
    outcome("Join the team", result)
}
