//! The access-token battery: every forged, stale or misused token is UNAUTHENTICATED.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::EncodePublicKey as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::personas::ME;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn sign(claims: &Value, key_pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn forged_stale_and_misused_tokens_are_all_unauthenticated() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let valid = owner.access.clone();
    assert!(
        owner.gql(&app, ME, json!({})).await.body()["errors"].is_null(),
        "the control token works"
    );

    let key_pem = std::fs::read_to_string(app.data_dir.join("jwt-signing-key.pem")).unwrap();
    let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(&key_pem).unwrap();
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let kid = kid_of(&valid);
    let claims = claims_of(&valid);
    let now = chrono::Utc::now().timestamp();
    let with = |patch: Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    // Re-signing the unchanged claims with the real key is accepted (the battery below
    // differs from it in one respect each).
    let resigned = sign(&claims, &key_pem, &kid);
    assert!(app.graphql_as(&resigned, &[], ME, json!({})).await.body()["errors"].is_null());

    let mut tampered = valid.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });

    let other_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();

    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    let confused = jsonwebtoken::encode(
        &hs256,
        &claims,
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();

    let battery: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(&json!({ "alg": "none", "typ": "JWT", "kid": kid }), &claims),
        ),
        ("HS256 signed with the public key", confused),
        (
            "expired",
            sign(
                &with(json!({ "iat": now - 3600, "nbf": now - 3600, "exp": now - 60 })),
                &key_pem,
                &kid,
            ),
        ),
        (
            "not yet valid",
            sign(
                &with(json!({ "nbf": now + 3600, "exp": now + 7200 })),
                &key_pem,
                &kid,
            ),
        ),
        (
            "wrong aud",
            sign(&with(json!({ "aud": "someone-else" })), &key_pem, &kid),
        ),
        (
            "wrong iss",
            sign(
                &with(json!({ "iss": "https://evil.example" })),
                &key_pem,
                &kid,
            ),
        ),
        ("tampered signature", tampered),
        (
            "exp as a string",
            sign(
                &with(json!({ "exp": (now + 600).to_string() })),
                &key_pem,
                &kid,
            ),
        ),
        ("refresh token as access token", owner.refresh.clone()),
        (
            "unknown kid",
            sign(&claims, other_key.as_str(), "0123456789abcdef"),
        ),
        (
            "signed by another key under our kid",
            sign(&claims, other_key.as_str(), &kid),
        ),
        (
            "typ refresh",
            sign(&with(json!({ "typ": "refresh" })), &key_pem, &kid),
        ),
        ("no exp", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("exp");
            sign(&c, &key_pem, &kid)
        }),
        (
            "another user's id under this session",
            sign(
                &with(json!({ "sub": uuid::Uuid::new_v4() })),
                &key_pem,
                &kid,
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in battery {
        let response = app.graphql_as(&token, &[], ME, json!({})).await;
        assert_eq!(
            response.error_code(),
            "UNAUTHENTICATED",
            "{name}: {}",
            response.body()
        );
    }
}

#[tokio::test]
async fn bad_credentials_do_not_block_public_operations() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let login = app
        .graphql_as(
            "expired.or.forged",
            &[],
            crate::personas::LOGIN,
            json!({ "input": { "email": owner.email, "password": owner.password } }),
        )
        .await;
    assert!(login.body()["errors"].is_null(), "{}", login.body());
}

/// An Ed25519 key pair written as the server reads them: the private key (PKCS#8 PEM) and
/// its public key (SPKI PEM).
fn key_pair(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    std::fs::write(
        &private,
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::write(
        &public,
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
    (private, public)
}

#[tokio::test]
async fn after_a_key_rotation_old_tokens_verify_while_the_old_key_is_listed_and_not_after() {
    let keys = tempfile::tempdir().unwrap();
    let (old_private, old_public) = key_pair(keys.path(), "old");
    let (new_private, _) = key_pair(keys.path(), "new");
    let mut app = TestApp::builder()
        .env("JWT_SIGNING_KEY_FILE", old_private.to_str().unwrap())
        .spawn()
        .await;
    let owner = app.register("rotate@duka.test", "Rotating Duka").await;
    let me = "{ me { user { email } } }";

    // A node that signs with the new key and still accepts the old one.
    let rotating = app
        .another_node_with(|c| {
            c.auth.jwt_signing_key_file = new_private.clone();
            c.auth.jwt_signing_key_configured = true;
            c.auth.jwt_verify_key_files = vec![old_public.clone()];
        })
        .await;
    let seen = app
        .graphql_at(&rotating, &owner.access, me, json!({}))
        .await;
    assert_eq!(seen.data()["me"]["user"]["email"], "rotate@duka.test");
    let login = app
        .graphql_at(
            &rotating,
            "",
            "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }",
            json!({ "e": owner.email, "p": owner.password }),
        )
        .await;
    let new_token = login.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // Once the old key is dropped from the list, its tokens stop; the new key's do not.
    let rotated = app
        .another_node_with(|c| {
            c.auth.jwt_signing_key_file = new_private.clone();
            c.auth.jwt_signing_key_configured = true;
            c.auth.jwt_verify_key_files = Vec::new();
        })
        .await;
    let refused = app.graphql_at(&rotated, &owner.access, me, json!({})).await;
    assert_eq!(refused.error_code(), "UNAUTHENTICATED");
    let accepted = app.graphql_at(&rotated, &new_token, me, json!({})).await;
    assert_eq!(accepted.data()["me"]["user"]["email"], "rotate@duka.test");
}
