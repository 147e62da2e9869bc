//! Server side of the connection phase: greeting (Handshake v10), parsing
//! the client's HandshakeResponse41, and password checks for
//! mysql_native_password and caching_sha2_password. We know the plaintext
//! passwords, so caching_sha2 is always verified on the fast path.

use rand::Rng;

use super::consts::*;
use super::packets::Reader;

/// 20 random bytes, printable and NUL-free like mysqld's.
pub fn new_nonce() -> [u8; 20] {
    let mut rng = rand::thread_rng();
    let mut n = [0u8; 20];
    for b in &mut n {
        *b = rng.gen_range(0x21..0x7f);
    }
    n
}

/// Handshake v10 payload announcing `plugin`.
pub fn greeting(
    server_version: &str,
    conn_id: u32,
    nonce: &[u8; 20],
    caps: u32,
    plugin: &str,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.push(10);
    b.extend_from_slice(server_version.as_bytes());
    b.push(0);
    b.extend_from_slice(&conn_id.to_le_bytes());
    b.extend_from_slice(&nonce[..8]);
    b.push(0);
    b.extend_from_slice(&(caps as u16).to_le_bytes());
    b.push(UTF8MB4_GENERAL_CI);
    b.extend_from_slice(&SERVER_STATUS_AUTOCOMMIT.to_le_bytes());
    b.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    b.push(21);
    b.extend_from_slice(&[0; 10]);
    b.extend_from_slice(&nonce[8..]);
    b.push(0);
    b.extend_from_slice(plugin.as_bytes());
    b.push(0);
    b
}

/// The client's HandshakeResponse41.
#[derive(Debug, Clone, Default)]
pub struct HandshakeResponse {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
    pub attributes: Vec<(String, String)>,
}

pub fn parse_response(p: &[u8]) -> Result<HandshakeResponse, &'static str> {
    let mut r = Reader::new(p);
    let caps = r.u32().ok_or("short handshake response")?;
    if caps & CLIENT_PROTOCOL_41 == 0 {
        return Err("client does not speak protocol 4.1");
    }
    let max_packet = r.u32().ok_or("short handshake response")?;
    let charset = r.u8().ok_or("short handshake response")?;
    r.take(23).ok_or("short handshake response")?;
    if r.is_empty() && caps & CLIENT_SSL != 0 {
        return Err("SSL is not supported by this proxy");
    }
    let user = String::from_utf8_lossy(r.null_str()).into_owned();
    let auth_response = if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        r.lenenc_bytes().ok_or("bad auth response length")?
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = r.u8().ok_or("bad auth response length")?;
        r.take(n as usize).ok_or("bad auth response length")?
    } else {
        r.null_str()
    }
    .to_vec();
    let mut database = None;
    if caps & CLIENT_CONNECT_WITH_DB != 0 && !r.is_empty() {
        let db = r.null_str();
        if !db.is_empty() {
            database = Some(String::from_utf8_lossy(db).into_owned());
        }
    }
    let mut auth_plugin = None;
    if caps & CLIENT_PLUGIN_AUTH != 0 && !r.is_empty() {
        auth_plugin = Some(String::from_utf8_lossy(r.null_str()).into_owned());
    }
    let mut attributes = Vec::new();
    if caps & CLIENT_CONNECT_ATTRS != 0 && !r.is_empty() {
        if let Some(mut attrs) = r.lenenc_bytes().map(Reader::new) {
            while !attrs.is_empty() {
                match (attrs.lenenc_bytes(), attrs.lenenc_bytes()) {
                    (Some(k), Some(v)) => attributes.push((
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )),
                    _ => break,
                }
            }
        }
    }
    Ok(HandshakeResponse {
        capabilities: caps,
        max_packet,
        charset,
        user,
        auth_response,
        database,
        auth_plugin,
        attributes,
    })
}

/// Checks a scramble for `plugin` against the known plaintext password.
pub fn verify(plugin: &str, nonce: &[u8; 20], password: &str, response: &[u8]) -> bool {
    // Some clients append a NUL to the scramble.
    let resp = match response {
        [head @ .., 0] if head.len() == 20 || head.len() == 32 => head,
        r => r,
    };
    if password.is_empty() {
        return resp.is_empty();
    }
    let expected: Vec<u8> = match plugin {
        NATIVE_PASSWORD => mysql_common::scramble::scramble_native(nonce, password.as_bytes())
            .map(|s| s.to_vec())
            .unwrap_or_default(),
        CACHING_SHA2_PASSWORD => {
            mysql_common::scramble::scramble_sha256(nonce, password.as_bytes())
                .map(|s| s.to_vec())
                .unwrap_or_default()
        }
        _ => return false,
    };
    constant_time_eq(&expected, resp)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AuthSwitchRequest payload asking the client to use `plugin`.
pub fn auth_switch(plugin: &str, nonce: &[u8; 20]) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.push(0xfe);
    b.extend_from_slice(plugin.as_bytes());
    b.push(0);
    b.extend_from_slice(nonce);
    b.push(0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_both_plugins() {
        let nonce = new_nonce();
        let n = mysql_common::scramble::scramble_native(&nonce, b"pw").unwrap();
        assert!(verify(NATIVE_PASSWORD, &nonce, "pw", &n));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "px", &n));
        let s = mysql_common::scramble::scramble_sha256(&nonce, b"pw").unwrap();
        assert!(verify(CACHING_SHA2_PASSWORD, &nonce, "pw", &s));
        assert!(verify(NATIVE_PASSWORD, &nonce, "", &[]));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "", &n));
    }

    #[test]
    fn garbage_response_is_error() {
        assert!(parse_response(&[1, 2, 3]).is_err());
        assert!(parse_response(&[0xff; 40]).is_ok() || parse_response(&[0xff; 40]).is_err());
    }
}
