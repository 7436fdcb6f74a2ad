//! Secrets at rest (webhook signing secrets, later tenant database credentials): sealed
//! with AES-256-GCM under `MSINGI_DATA_KEY`, a fresh random nonce per value. A sealed value
//! names the key that sealed it (the first 8 hex digits of the key's SHA-256), so after a
//! rotation the keys listed in `MSINGI_DATA_KEYS_OLD` still open what they sealed.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::config::DataKeyConfig;
use crate::error::{AppError, AppResult};

/// One key and its short id.
#[derive(Clone)]
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            bytes.len() == 32,
            "a data key is 32 bytes, got {}",
            bytes.len()
        );
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        let cipher = Aes256Gcm::new_from_slice(bytes).context("the data key")?;
        Ok(Self { id, cipher })
    }

    fn parse(text: &str, what: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .with_context(|| format!("{what} is not base64"))?;
        Self::new(&bytes).with_context(|| what.to_owned())
    }
}

/// The current key, which seals, and the old ones, which only open. Cheap to clone
/// (the services are cloned per connection).
#[derive(Clone)]
pub struct DataKeys {
    current: std::sync::Arc<Key>,
    old: std::sync::Arc<[Key]>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKeys({}, {} old)", self.current.id, self.old.len())
    }
}

impl DataKeys {
    /// `MSINGI_DATA_KEY` (and `MSINGI_DATA_KEYS_OLD`), else the key generated once into
    /// the data directory, with a warning.
    pub fn load(config: &DataKeyConfig) -> anyhow::Result<Self> {
        let current = match &config.key {
            Some(text) => Key::parse(text, "MSINGI_DATA_KEY")?,
            None => {
                let path = &config.key_file;
                if let Ok(existing) = std::fs::read_to_string(path)
                    && !existing.trim().is_empty()
                {
                    Key::parse(&existing, &path.display().to_string())?
                } else {
                    let bytes: [u8; 32] = rand::random();
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    crate::auth::keys::write_private(path, STANDARD.encode(bytes).as_bytes())
                        .with_context(|| format!("writing {}", path.display()))?;
                    tracing::warn!(path = %path.display(), "generated a data key (set MSINGI_DATA_KEY in production)");
                    Key::new(&bytes)?
                }
            }
        };
        let old = config
            .old_keys
            .iter()
            .map(|k| Key::parse(k, "MSINGI_DATA_KEYS_OLD"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            current: current.into(),
            old: old.into(),
        })
    }

    /// Keys from raw bytes (tests).
    pub fn from_bytes(current: &[u8], old: &[&[u8]]) -> anyhow::Result<Self> {
        Ok(Self {
            current: Key::new(current)?.into(),
            old: old
                .iter()
                .map(|k| Key::new(k))
                .collect::<anyhow::Result<Vec<_>>>()?
                .into(),
        })
    }

    /// `plain`, sealed under the current key: `<key id>:<base64 nonce ‖ ciphertext>`.
    pub fn seal(&self, plain: &str) -> AppResult<String> {
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), plain.as_bytes())
            .map_err(|_| AppError::internal(anyhow::anyhow!("sealing a secret failed")))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{}:{}", self.current.id, STANDARD.encode(out)))
    }

    /// Opens what [`DataKeys::seal`] made, with whichever key sealed it. INTERNAL when no
    /// key we hold sealed it or it was altered (the value itself is never in the error).
    pub fn open(&self, sealed: &str) -> AppResult<String> {
        let refused = || {
            AppError::internal(anyhow::anyhow!(
                "a stored secret could not be opened with the data keys"
            ))
        };
        let (id, body) = sealed.split_once(':').ok_or_else(refused)?;
        let key = std::iter::once(&*self.current)
            .chain(self.old.iter())
            .find(|k| k.id == id)
            .ok_or_else(refused)?;
        let bytes = STANDARD.decode(body).map_err(|_| refused())?;
        if bytes.len() < 12 {
            return Err(refused());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| refused())?;
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_after_rotation_and_not_when_altered() {
        let old = DataKeys::from_bytes(&[1; 32], &[]).unwrap();
        let sealed = old.seal("whsec_abc").unwrap();
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(
            old.seal("whsec_abc").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        let rotated = DataKeys::from_bytes(&[2; 32], &[&[1; 32]]).unwrap();
        assert_eq!(rotated.open(&sealed).unwrap(), "whsec_abc");
        let fresh = rotated.seal("x").unwrap();
        assert!(
            old.open(&fresh).is_err(),
            "the old key alone cannot open the new key's"
        );
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(rotated.open(&altered).is_err());
        assert!(DataKeys::from_bytes(&[2; 16], &[]).is_err());
    }
}
