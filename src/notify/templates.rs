//! Email templates, all in `templates/email/` (compiled in): one `<name>.jinja` per
//! message holding its wording as blocks (`subject`, `greeting`, `body`, `action`,
//! `footer`), laid out by `layout.html` (auto-escaped) and `layout.txt` with the sender's
//! branding: the tenant's name, `settings.logoUrl` and `settings.brandColor`, or
//! Msingi's own for mail that belongs to no tenant.
//!
//! `msingi email preview <template>` renders one with [`sample`] data to a file.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, Value, context};

use crate::error::{AppError, AppResult};
use crate::identity::mail::Mail;
use crate::tenancy::Tenant;

/// Every message template, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "verify_email",
        include_str!("../../templates/email/verify_email.jinja"),
    ),
    (
        "account_exists",
        include_str!("../../templates/email/account_exists.jinja"),
    ),
    (
        "reset_password",
        include_str!("../../templates/email/reset_password.jinja"),
    ),
    (
        "invitation",
        include_str!("../../templates/email/invitation.jinja"),
    ),
    (
        "invoice_issued",
        include_str!("../../templates/email/invoice_issued.jinja"),
    ),
    (
        "payment_due",
        include_str!("../../templates/email/payment_due.jinja"),
    ),
    (
        "past_due",
        include_str!("../../templates/email/past_due.jinja"),
    ),
    (
        "suspended",
        include_str!("../../templates/email/suspended.jinja"),
    ),
    (
        "canceled",
        include_str!("../../templates/email/canceled.jinja"),
    ),
    (
        "payment_received",
        include_str!("../../templates/email/payment_received.jinja"),
    ),
    (
        "payment_failed",
        include_str!("../../templates/email/payment_failed.jinja"),
    ),
    (
        "usage_threshold",
        include_str!("../../templates/email/usage_threshold.jinja"),
    ),
    (
        "webhook_disabled",
        include_str!("../../templates/email/webhook_disabled.jinja"),
    ),
    (
        "payment_review",
        include_str!("../../templates/email/payment_review.jinja"),
    ),
];

const LAYOUT_HTML: &str = include_str!("../../templates/email/layout.html");
const LAYOUT_TEXT: &str = include_str!("../../templates/email/layout.txt");

/// Who a mail is from, as it looks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Brand {
    /// Shown at the top (and in the logo's alt text).
    pub name: String,
    /// An https logo, if the tenant set one.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`.
    pub color: String,
}

/// Msingi's colour, and the one a tenant without a valid `brandColor` gets.
pub const DEFAULT_COLOR: &str = "#1f6f43";

impl Brand {
    /// Msingi's own (mail about an account, not a tenant).
    pub fn platform() -> Self {
        Self {
            name: "Msingi".into(),
            logo_url: None,
            color: DEFAULT_COLOR.into(),
        }
    }

    /// The tenant's, from its settings; what is not valid falls back to the default.
    pub fn of(tenant: &Tenant) -> Self {
        Self::from_settings(&tenant.name, &tenant.settings)
    }

    /// A tenant named `name` with `settings`' `logoUrl` and `brandColor`.
    pub fn from_settings(name: &str, settings: &serde_json::Value) -> Self {
        let candidate = settings["brandColor"].as_str().unwrap_or_default();
        let valid = candidate.starts_with('#')
            && matches!(candidate.len(), 4 | 7)
            && candidate[1..].bytes().all(|b| b.is_ascii_hexdigit());
        Self {
            name: name.to_owned(),
            logo_url: settings["logoUrl"]
                .as_str()
                .filter(|u| u.starts_with("https://") && !u.contains(['"', '<', '>', ' ']))
                .map(str::to_owned),
            color: if valid { candidate } else { DEFAULT_COLOR }.to_owned(),
        }
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_keep_trailing_newline(true);
        // HTML-escapes like minijinja's default but leaves `/` alone, so links read as
        // they were written (in the text part and in the HTML's source alike).
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Html && !value.is_safe() && !value.is_none() {
                let text = value.to_string();
                let mut escaped = String::with_capacity(text.len());
                for c in text.chars() {
                    match c {
                        '&' => escaped.push_str("&amp;"),
                        '<' => escaped.push_str("&lt;"),
                        '>' => escaped.push_str("&gt;"),
                        '"' => escaped.push_str("&quot;"),
                        '\'' => escaped.push_str("&#39;"),
                        c => escaped.push(c),
                    }
                }
                out.write_str(&escaped).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                })
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.add_filter("paragraphs", |text: String| -> Vec<String> {
            text.split("\n\n").map(str::to_owned).collect()
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("email template {name}: {e}"));
        }
        env.add_template("layout.html", LAYOUT_HTML)
            .expect("email layout.html");
        env.add_template("layout.txt", LAYOUT_TEXT)
            .expect("email layout.txt");
        env
    })
}

fn failed(name: &str, e: minijinja::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("email template {name}: {e:#}"))
}

/// Renders template `name` with `ctx` (its own variables), branded `brand`, with its one
/// action going to `link`.
pub fn render(name: &str, brand: &Brand, link: &str, ctx: Value) -> AppResult<Mail> {
    let env = environment();
    let template = env.get_template(name).map_err(|e| failed(name, e))?;
    let ctx = context! { brand => brand, link => link, ..ctx };
    let mut captured = template
        .render_captured(&ctx)
        .map_err(|e| failed(name, e))?;
    let blocks = captured.with_state_mut(|state| {
        ["subject", "greeting", "body", "action", "footer"]
            .map(|block| state.render_block(block).map(|s| s.trim().to_owned()))
    });
    let [subject, greeting, body, action, footer] = blocks;
    let (subject, greeting, body, action, footer) = (
        subject.map_err(|e| failed(name, e))?,
        greeting.map_err(|e| failed(name, e))?,
        body.map_err(|e| failed(name, e))?,
        action.map_err(|e| failed(name, e))?,
        footer.map_err(|e| failed(name, e))?,
    );
    let parts =
        context! { subject => &subject, greeting, body => &body, action, footer, brand, link };
    let layout = |layout: &str| {
        env.get_template(layout)
            .and_then(|t| t.render(&parts))
            .map_err(|e| failed(layout, e))
    };
    Ok(Mail {
        html: layout("layout.html")?,
        text: layout("layout.txt")?,
        subject,
        summary: body,
        link: link.to_owned(),
        refs: serde_json::Map::new(),
    })
}

/// Sample data for template `name` (what `msingi email preview` and the tests render).
pub fn sample(name: &str) -> Option<(Brand, &'static str, Value)> {
    let duka = Brand {
        name: "Duka la Mama Njeri".into(),
        logo_url: Some("https://duka.example/logo.png".into()),
        color: "#b45309".into(),
    };
    let invoice = "https://app.msingi.example/invoices/0199?token=sample";
    let (brand, link, ctx) = match name {
        "verify_email" => (
            Brand::platform(),
            "https://app.msingi.example/verify-email?token=sample",
            context! { name => "Njeri" },
        ),
        "account_exists" => (
            Brand::platform(),
            "https://app.msingi.example/reset-password?token=sample",
            context! { name => "Njeri" },
        ),
        "reset_password" => (
            Brand::platform(),
            "https://app.msingi.example/reset-password?token=sample",
            context! { name => "Njeri" },
        ),
        "invitation" => (
            duka,
            "https://app.msingi.example/accept-invitation?token=sample",
            context! { tenant => "Duka la Mama Njeri", inviter => "Njeri Kamau" },
        ),
        "invoice_issued" => (
            duka,
            invoice,
            context! { tenant => "Duka la Mama Njeri", number => "DUKA-000042", due => "KES 1,740.00", due_by => "15 Jan 2027" },
        ),
        "payment_due" => (
            duka,
            invoice,
            context! { tenant => "Duka la Mama Njeri", number => "DUKA-000042", due => "KES 1,740.00" },
        ),
        "past_due" => (
            duka,
            invoice,
            context! { tenant => "Duka la Mama Njeri", number => "DUKA-000042", due => "KES 1,740.00", grace_until => "22 Jan 2027" },
        ),
        "suspended" => (
            duka,
            invoice,
            context! { tenant => "Duka la Mama Njeri", owed => "KES 1,740.00" },
        ),
        "canceled" => (
            duka,
            "https://app.msingi.example/billing",
            context! { tenant => "Duka la Mama Njeri", why => "an invoice stayed unpaid" },
        ),
        "payment_received" => (
            duka,
            invoice,
            context! { tenant => "Duka la Mama Njeri", number => "DUKA-000042", amount => "KES 1,740.00", receipt => "QKJ8XYZ12A", due => () },
        ),
        "payment_failed" => (
            duka,
            invoice,
            context! { tenant => "Duka la Mama Njeri", number => "DUKA-000042", amount => "KES 1,740.00", why => "Request cancelled by user", due => "KES 1,740.00" },
        ),
        "usage_threshold" => (
            duka,
            "https://app.msingi.example/usage",
            context! { tenant => "Duka la Mama Njeri", metric => "API calls", unit => "calls", used => 8000, max => 10000, threshold => 80 },
        ),
        "webhook_disabled" => (
            duka,
            "https://app.msingi.example/settings/webhooks",
            context! { tenant => "Duka la Mama Njeri", url => "https://erp.duka.example/hooks", reason => "the receiver answered 410 Gone" },
        ),
        "payment_review" => (
            Brand::platform(),
            "https://api.msingi.example/graphiql?query=%7B%20paymentReviews%20%7B%20kind%20id%20tenantId%20reason%20action%20%7D%20%7D",
            context! { count => 1, items => vec![context! {
                kind => "payment",
                id => "0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
                tenant => "0199a1b2-0000-7000-8000-000000000001",
                reason => "amount mismatch: paid KES 1.00, asked KES 1,740.00",
                action => "compare the M-Pesa statement with the request; settle by hand or refund the customer",
            }] },
        ),
        _ => return None,
    };
    Some((brand, link, ctx))
}

/// Renders template `name` with its sample data.
pub fn preview(name: &str) -> AppResult<Mail> {
    let (brand, link, ctx) = sample(name).ok_or_else(|| {
        let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
        AppError::bad_input(
            "template",
            format!("no template {name:?}; there are {}", names.join(", ")),
        )
    })?;
    render(name, &brand, link, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_its_sample_in_html_and_text_with_the_link_and_brand() {
        for (name, _) in TEMPLATES {
            let mail = preview(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (brand, link, _) = sample(name).unwrap();
            assert!(!mail.subject.is_empty(), "{name}: no subject");
            assert!(!mail.summary.is_empty(), "{name}: no body");
            assert!(mail.text.contains(link), "{name}: text without the link");
            assert!(mail.html.contains(&link.replace('&', "&amp;")), "{name}");
            assert!(
                mail.text.contains(&mail.summary),
                "{name}: text without the body"
            );
            assert!(
                mail.html.contains(&brand.color),
                "{name}: html without the colour"
            );
            assert!(
                !mail.text.contains("{{") && !mail.html.contains("{%"),
                "{name}"
            );
            assert!(mail.html.starts_with("<!doctype html>"), "{name}");
        }
    }

    #[test]
    fn what_users_typed_is_escaped_in_html_and_kept_in_text() {
        let brand = Brand::platform();
        let mail = render(
            "invitation",
            &brand,
            "http://spa/accept-invitation?token=inv_x",
            context! { tenant => "<script>Duka</script>", inviter => "Wanjiru & Co" },
        )
        .unwrap();
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(!mail.html.contains("<script>"));
        assert!(mail.html.contains("Wanjiru &amp; Co"));
        assert!(mail.text.contains("<script>Duka</script>"));
        assert_eq!(
            mail.subject,
            "You are invited to join <script>Duka</script>"
        );
    }

    #[test]
    fn a_tenants_branding_is_used_only_when_valid() {
        let settings =
            serde_json::json!({ "brandColor": "#abc", "logoUrl": "https://x.example/l.png" });
        let brand = Brand::from_settings("Duka", &settings);
        assert_eq!(
            (brand.color.as_str(), brand.logo_url.as_deref()),
            ("#abc", Some("https://x.example/l.png"))
        );
        let settings = serde_json::json!({ "brandColor": "red;background:url(x)", "logoUrl": "javascript:alert(1)" });
        let brand = Brand::from_settings("Duka", &settings);
        assert_eq!(
            (brand.color.as_str(), brand.logo_url),
            (DEFAULT_COLOR, None)
        );
    }
}
