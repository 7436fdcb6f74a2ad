//! `GET /graphiql`: GraphiQL 4 with the Explorer plugin, served entirely from the binary
//! (pinned production builds under `assets/graphiql/`, each with its license), so it works
//! offline and behind proxies. Assets live under a versioned path with a year-long
//! immutable cache.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The asset path prefix; the version changes whenever an asset does.
const ASSETS: &str = "/graphiql/assets/4.1.2";

/// Every asset: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "plugin-explorer.umd.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/plugin-explorer.umd.js"),
    ),
    (
        "plugin-explorer.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/plugin-explorer.css"),
    ),
    (
        "msingi.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/msingi.js"),
    ),
];

/// `GET /graphiql`.
pub(super) async fn page() -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="robots" content="noindex">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Msingi GraphiQL</title>
  <style>body {{ margin: 0; height: 100vh; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
  <link rel="stylesheet" href="{ASSETS}/graphiql.min.css">
  <link rel="stylesheet" href="{ASSETS}/plugin-explorer.css">
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="{ASSETS}/react.production.min.js"></script>
  <script src="{ASSETS}/react-dom.production.min.js"></script>
  <script src="{ASSETS}/graphiql.min.js"></script>
  <script src="{ASSETS}/plugin-explorer.umd.js"></script>
  <script src="{ASSETS}/msingi.js"></script>
</body>
</html>
"#
    ))
}

/// `GET /graphiql/assets/4.1.2/{file}`.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
