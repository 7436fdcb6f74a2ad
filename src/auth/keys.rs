//! Access tokens: EdDSA (Ed25519) JWTs.
//!
//! One key signs; every configured key verifies (rotation: add the new key, let tokens
//! signed with the old one expire, then drop it). Verification accepts only EdDSA, requires
//! `exp`, `nbf`, `iat`, `iss`, `aud`, `sub`, `sid` and `typ: "access"`, and checks times
//! against the injected clock. An HS256 token signed with a public key (algorithm
//! confusion), `alg: none`, an unknown `kid`: all refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::EncodePublicKey as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `typ` claim of an access token.
pub const ACCESS: &str = "access";
/// The `aud` claim every access token carries.
pub const AUDIENCE: &str = "msingi";

/// An access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The active tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<Uuid>,
    /// The session.
    pub sid: Uuid,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before (seconds).
    pub nbf: i64,
    /// Expires (seconds).
    pub exp: i64,
    /// Issuer: `PUBLIC_URL`.
    pub iss: String,
    /// Audience: `msingi`.
    pub aud: String,
    /// Token type: `access`.
    pub typ: String,
}

/// Why a token was refused (logged, never shown: the client only reads UNAUTHENTICATED).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT of ours.
    #[error("malformed or wrongly signed: {0}")]
    Invalid(String),
    /// Signed with a key we do not hold.
    #[error("unknown key id")]
    UnknownKey,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// Before `nbf`.
    #[error("not yet valid")]
    NotYetValid,
    /// Not an access token.
    #[error("wrong token type")]
    WrongType,
}

/// The keys and the rules tokens are made and checked with.
pub struct JwtKeys {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    issuer: String,
    validation: Validation,
    /// Tokens already verified, by their SHA-256, with their claims: a client sends the same
    /// token on every request until it expires, and an Ed25519 verification costs tens of
    /// microseconds. Only the signature check is skipped: type, expiry and not-before are
    /// checked on every use, and the session behind the token is still checked by the
    /// caller on every request, so revocation is unaffected.
    verified: std::sync::Mutex<HashMap<[u8; 32], Claims>>,
}

/// Most verified tokens remembered; the memory is dropped whole when full (a token verifies
/// again, correctly, when it is not remembered).
const VERIFIED_CAPACITY: usize = 10_000;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("signing_kid", &self.signing_kid)
            .field("verifying", &self.verifying.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A key's id: the first 16 hex digits of SHA-256 over its public key.
fn kid(public_der: &[u8]) -> String {
    hex::encode(Sha256::digest(public_der))[..16].to_owned()
}

impl JwtKeys {
    /// Loads the signing key from `signing_pem` (PKCS#8 Ed25519) and extra verification
    /// keys (SPKI public keys) from `verify_pems`.
    pub fn from_pem(
        signing_pem: &str,
        verify_pems: &[String],
        issuer: &str,
    ) -> anyhow::Result<Self> {
        let signing_key =
            SigningKey::from_pkcs8_pem(signing_pem).context("not a PKCS#8 Ed25519 private key")?;
        let public_der = signing_key
            .verifying_key()
            .to_public_key_der()
            .context("encoding the public key")?;
        let public_pem = signing_key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the public key")?;
        let signing_kid = kid(public_der.as_bytes());
        let mut verifying = HashMap::new();
        verifying.insert(
            signing_kid.clone(),
            DecodingKey::from_ed_pem(public_pem.as_bytes()).context("public key")?,
        );
        for pem in verify_pems {
            let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
                .context("a verification key is not an SPKI Ed25519 public key")?;
            let der = key
                .to_public_key_der()
                .context("encoding a verification key")?;
            verifying.insert(
                kid(der.as_bytes()),
                DecodingKey::from_ed_pem(pem.as_bytes())?,
            );
        }
        let signing = EncodingKey::from_ed_pem(signing_pem.as_bytes()).context("signing key")?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Times are checked against the injected clock below, not the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;

        Ok(Self {
            signing_kid,
            signing,
            verifying,
            issuer: issuer.to_owned(),
            validation,
            verified: Default::default(),
        })
    }

    /// Reads the signing key from `path`, generating it (and warning) when it does not
    /// exist, which is the embedded default's behaviour.
    pub fn load_or_generate(
        path: &Path,
        generate: bool,
        verify_files: &[PathBuf],
        issuer: &str,
    ) -> anyhow::Result<Self> {
        if !path.exists() && !generate {
            anyhow::bail!(
                "{} does not exist (a configured key is never replaced by a new one)",
                path.display()
            );
        }
        if !path.exists() {
            let bytes: [u8; 32] = rand::random();
            let key = SigningKey::from_bytes(&bytes);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .context("encoding a new signing key")?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            write_private(path, pem.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                "generated a new JWT signing key; set JWT_SIGNING_KEY_FILE to a managed key in production"
            );
        }
        let signing =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let verify = verify_files
            .iter()
            .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Self::from_pem(&signing, &verify, issuer)
    }

    /// The id of the signing key.
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// Signs an access token for `user` in session `sid`, valid for `ttl` from `now`.
    pub fn issue(
        &self,
        user: Uuid,
        tenant: Option<Uuid>,
        session: Uuid,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        self.sign(ACCESS, user, tenant, session, now, ttl)
            .context("signing an access token")
    }

    /// Signs a link token of type `typ` (never an access token: [`JwtKeys::verify`] refuses
    /// it) naming `subject` in `tenant`, valid for `ttl` from `now`.
    pub fn issue_link(
        &self,
        typ: &str,
        subject: Uuid,
        tenant: Uuid,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        self.sign(typ, subject, Some(tenant), Uuid::nil(), now, ttl)
            .context("signing a link")
    }

    fn sign(
        &self,
        typ: &str,
        sub: Uuid,
        tid: Option<Uuid>,
        sid: Uuid,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> jsonwebtoken::errors::Result<String> {
        let claims = Claims {
            sub,
            tid,
            sid,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            typ: typ.to_owned(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing)
    }

    /// Verifies a link token of type `typ` at `now`.
    pub fn verify_link(
        &self,
        token: &str,
        typ: &str,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        valid_at(self.verify_signature(token)?, typ, now)
    }

    /// Verifies an access token at time `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest)
            .cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signature(token)?;
                let mut verified = self
                    .verified
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if verified.len() >= VERIFIED_CAPACITY {
                    verified.clear();
                }
                verified.insert(digest, claims.clone());
                claims
            }
        };
        valid_at(claims, ACCESS, now)
    }

    /// The claims of a token whose header, key and signature check out.
    fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!("algorithm {:?}", header.alg)));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok(data.claims)
    }
}

/// `claims` when they are of type `typ` and valid at `now` (5 s of clock skew allowed
/// before `nbf`).
fn valid_at(claims: Claims, typ: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
    if claims.typ != typ {
        return Err(TokenError::WrongType);
    }
    let now = now.timestamp();
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf > now + 5 {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// Creates `path` (refusing one that exists) readable by its owner only, holding `bytes`.
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        let key = SigningKey::from_bytes(&rand::random());
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        JwtKeys::from_pem(&pem, &[], "http://msingi.test").unwrap()
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_changed_one_is_checked_again() {
        let keys = keys();
        let now = Utc::now();
        let token = keys
            .issue(
                Uuid::now_v7(),
                None,
                Uuid::now_v7(),
                now,
                Duration::minutes(15),
            )
            .unwrap();
        assert!(keys.verify(&token, now).is_ok());
        assert!(keys.verify(&token, now).is_ok(), "remembered");
        assert_eq!(
            keys.verify(&token, now + Duration::minutes(16)),
            Err(TokenError::Expired)
        );
        // The same claims under another signature are a different token: checked in full.
        let (head, signature) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", signature.chars().rev().collect::<String>());
        assert!(matches!(
            keys.verify(&forged, now),
            Err(TokenError::Invalid(_))
        ));
        // Another key set never trusts what this one remembered.
        assert_eq!(
            self::keys().verify(&token, now),
            Err(TokenError::UnknownKey)
        );
    }
}
