//! Access tokens and secrets. Tokens are JWTs signed by the lab (HMAC-SHA-256 with a key kept in
//! its home), so a token made anywhere else, or changed, is refused. Secrets are kept as salted
//! digests, never as given.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::{digest, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The key file in the lab's home.
pub const KEY_FILE: &str = "token-signing.key";

/// Why a token is refused before its claims are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's signature is not the lab's")]
    BadSignature,
}

/// The lab's token-signing key.
pub struct SigningKey {
    key: hmac::Key,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system's random source failing is not something a lab can go on without.
    rand::SystemRandom::new().fill(&mut bytes).expect("the system random source");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl SigningKey {
    /// A fresh key, for a server that keeps none.
    pub fn generate() -> SigningKey {
        SigningKey::from_bytes(&random_bytes::<32>())
    }

    fn from_bytes(bytes: &[u8]) -> SigningKey {
        SigningKey { key: hmac::Key::new(hmac::HMAC_SHA256, bytes) }
    }

    /// The key in `home`, made on first use (readable by its owner only).
    pub fn load_or_create(home: &Path) -> std::io::Result<SigningKey> {
        let path = home.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = unhex(text.trim()).filter(|b| b.len() >= 32).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: not a token-signing key (64 hex digits expected)", path.display()),
                    )
                })?;
                Ok(SigningKey::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(home)?;
                let bytes = random_bytes::<32>();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(&path) {
                    Ok(mut file) => {
                        writeln!(file, "{}", hex(&bytes))?;
                        file.sync_all()?;
                        Ok(SigningKey::from_bytes(&bytes))
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => SigningKey::load_or_create(home),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A signed JWT carrying `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "HS256", "kid": "vnetlab"});
        let signed =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of a token this key signed.
    pub fn verify(&self, token: &str) -> Result<Value, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| TokenError::Malformed);
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
        let claims_value: Value = serde_json::from_slice(&decode(claims)?).map_err(|_| TokenError::Malformed)?;
        if !claims_value.is_object() {
            return Err(TokenError::Malformed);
        }
        let signature = decode(signature)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::BadSignature);
        }
        let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        hmac::verify(&self.key, &token.as_bytes()[..signed_len], &signature).map_err(|_| TokenError::BadSignature)?;
        Ok(claims_value)
    }
}

/// How a secret is kept: `sha256:{salt}:{digest of salt and secret}`, in hex.
pub fn secret_digest(secret: &str) -> String {
    let salt = random_bytes::<16>();
    format!("sha256:{}:{}", hex(&salt), hex(salted(&salt, secret).as_ref()))
}

fn salted(salt: &[u8], secret: &str) -> digest::Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt);
    ctx.update(secret.as_bytes());
    ctx.finish()
}

/// Whether `secret` is the one `digest` was made from.
pub fn secret_matches(digest: &str, secret: &str) -> bool {
    let mut parts = digest.split(':');
    let (Some("sha256"), Some(salt), Some(expected), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(salt), Some(expected)) = (unhex(salt), unhex(expected)) else {
        return false;
    };
    aws_lc_rs::constant_time::verify_slices_are_equal(salted(&salt, secret).as_ref(), &expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_under_their_key() {
        let key = SigningKey::generate();
        let token = key.sign(&json!({"oid": "a", "tid": "t"}));
        assert_eq!(key.verify(&token).unwrap()["oid"], "a");
        assert_eq!(SigningKey::generate().verify(&token), Err(TokenError::BadSignature));
        // Someone else's claims under the original signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(r#"{"oid":"b","tid":"t"}"#), parts[2]);
        assert_eq!(key.verify(&forged), Err(TokenError::BadSignature));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &format!("{}.{}.", parts[0], parts[1])] {
            assert!(key.verify(bad).is_err(), "{bad:?}");
        }
        let unsigned = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(key.verify(&unsigned), Err(TokenError::BadSignature));
    }

    #[test]
    fn keys_persist_in_the_home() {
        let home = tempfile::tempdir().unwrap();
        let token = SigningKey::load_or_create(home.path()).unwrap().sign(&json!({"oid": "a"}));
        assert!(SigningKey::load_or_create(home.path()).unwrap().verify(&token).is_ok());
        std::fs::write(home.path().join(KEY_FILE), "short\n").unwrap();
        assert!(SigningKey::load_or_create(home.path()).is_err());
    }

    #[test]
    fn secrets_are_kept_as_salted_digests() {
        let d = secret_digest("s3cret");
        assert!(!d.contains("s3cret"));
        assert_ne!(d, secret_digest("s3cret"), "salted");
        assert!(secret_matches(&d, "s3cret"));
        assert!(!secret_matches(&d, "s3cret "));
        assert!(!secret_matches("garbage", "s3cret"));
    }
}
