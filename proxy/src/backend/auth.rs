//! Client side of authentication: scrambles for mysql_native_password and
//! caching_sha2_password, and the RSA step of caching_sha2 full auth.

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};

use crate::protocol::consts::{CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};

/// Auth response for `plugin`; `None` for a plugin we do not speak.
pub fn scramble(plugin: &str, nonce: &[u8], password: &str) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    match plugin {
        NATIVE_PASSWORD => {
            mysql_common::scramble::scramble_native(nonce, password.as_bytes()).map(|s| s.to_vec())
        }
        CACHING_SHA2_PASSWORD => {
            mysql_common::scramble::scramble_sha256(nonce, password.as_bytes()).map(|s| s.to_vec())
        }
        _ => None,
    }
}

/// Full-auth payload: (password + NUL) XOR nonce, RSA-OAEP(SHA1) encrypted
/// with the server's PEM public key.
pub fn encrypt_password(password: &str, nonce: &[u8], pem: &[u8]) -> Result<Vec<u8>, String> {
    let pem = std::str::from_utf8(pem).map_err(|_| "public key is not PEM text".to_string())?;
    let pem = pem.trim_end_matches('\0').trim();
    let key = RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|e| format!("cannot parse server public key: {e}"))?;
    let mut data: Vec<u8> = password.as_bytes().to_vec();
    data.push(0);
    if !nonce.is_empty() {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= nonce[i % nonce.len()];
        }
    }
    key.encrypt(&mut rand::thread_rng(), Oaep::new::<sha1::Sha1>(), &data)
        .map_err(|e| format!("RSA encryption failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::RsaPrivateKey;

    #[test]
    fn rsa_roundtrip() {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let pem = key
            .to_public_key()
            .to_public_key_pem(Default::default())
            .unwrap();
        let nonce = b"12345678901234567890";
        let enc = encrypt_password("secret", nonce, pem.as_bytes()).unwrap();
        let mut dec = key.decrypt(Oaep::new::<sha1::Sha1>(), &enc).unwrap();
        for (i, b) in dec.iter_mut().enumerate() {
            *b ^= nonce[i % nonce.len()];
        }
        assert_eq!(dec, b"secret\0");
    }
}
