//! Backend connection and pool against the real MariaDB, against our own
//! frontend (caching_sha2 fast auth) and against a fake server that demands
//! caching_sha2 full authentication over RSA.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use haoka_proxy::backend::{
    decode_binary_row, BackendConfig, BackendError, Connection, Pool, PoolConfig, Response,
};
use haoka_proxy::protocol::codec::{PacketBuf, PacketReader};
use haoka_proxy::protocol::consts::*;
use haoka_proxy::protocol::packets::{encode_ok, OkInfo};
use mysql_common::value::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_results_prepare_execute() {
    ensure_db().await;
    let mut c = Connection::connect(&backend(Some(DB))).await.unwrap();
    assert!(
        c.capabilities() & CLIENT_DEPRECATE_EOF != 0,
        "MariaDB offers DEPRECATE_EOF"
    );
    c.query_drop("DROP TABLE IF EXISTS t_be").await.unwrap();
    c.query_drop("CREATE TABLE t_be (id INT PRIMARY KEY, v VARCHAR(10), d DATETIME)")
        .await
        .unwrap();
    let r = c
        .query("INSERT INTO t_be VALUES (1,'a',NULL),(2,'b','2020-01-02 03:04:05')")
        .await
        .unwrap();
    assert!(
        matches!(r, Response::Ok(ref ok) if ok.affected_rows == 2),
        "{r:?}"
    );

    // Multi-result streaming with raw rows.
    c.send_query(b"SELECT id, v FROM t_be ORDER BY id; SELECT COUNT(*) FROM t_be")
        .await
        .unwrap();
    let Response::ResultSet { columns: 2 } = c.read_response().await.unwrap() else {
        panic!()
    };
    let cols = c.columns().await.unwrap();
    assert_eq!(cols[1].column.name_str(), "v");
    let mut n = 0;
    while let Some(row) = c.next_row().await.unwrap() {
        assert!(!row.is_empty());
        n += 1;
    }
    assert_eq!(n, 2);
    assert!(c.more_results());
    let Response::ResultSet { columns: 1 } = c.read_response().await.unwrap() else {
        panic!()
    };
    while c.next_column().await.unwrap().is_some() {}
    assert_eq!(c.next_row().await.unwrap(), Some(&b"\x012"[..]));
    assert_eq!(c.next_row().await.unwrap(), None);
    assert!(!c.more_results() && c.is_idle());

    // Collect helper (text decode).
    let res = c
        .query_collect("SELECT id, v, d FROM t_be ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        res.rows[0],
        vec![
            Value::Bytes(b"1".to_vec()),
            Value::Bytes(b"a".to_vec()),
            Value::NULL
        ]
    );

    // Prepared statements from values, binary decode.
    let p = c
        .prepare("SELECT id, v, d FROM t_be WHERE id >= ? AND v <> ?")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.num_params, p.columns.len()), (2, 3));
    let first = c
        .execute(p.stmt_id, &[Value::Int(2), Value::Bytes(b"zz".to_vec())])
        .await
        .unwrap();
    let res = c.collect(first, true).await.unwrap();
    assert_eq!(
        res.rows,
        vec![vec![
            Value::Int(2),
            Value::Bytes(b"b".to_vec()),
            Value::Date(2020, 1, 2, 3, 4, 5, 0)
        ]]
    );
    // Raw execute body (what a client sent) with only the id replaced.
    let mut body = vec![0u8, 1, 0, 0, 0, 0, 1];
    body.extend_from_slice(&[MYSQL_LONGLONG, 0, 0xfd, 0]);
    body.extend_from_slice(&1i64.to_le_bytes());
    body.extend_from_slice(b"\x02zz");
    let first = c.execute_raw(p.stmt_id, &body).await.unwrap();
    assert!(matches!(first, Response::ResultSet { columns: 3 }));
    let cols: Arc<[_]> = c
        .columns()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.column)
        .collect();
    let mut rows = Vec::new();
    while let Some(raw) = c.next_row().await.unwrap() {
        rows.push(decode_binary_row(raw, cols.clone()).unwrap());
    }
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][2], Value::NULL);

    c.close_stmt(p.stmt_id).await.unwrap();
    let a = c.prepare_cached("SELECT ? + 1").await.unwrap().unwrap();
    let b = c.prepare_cached("SELECT ? + 1").await.unwrap().unwrap();
    assert_eq!(a.stmt_id, b.stmt_id);
    let first = c.execute(a.stmt_id, &[Value::Int(41)]).await.unwrap();
    assert_eq!(
        c.collect(first, true).await.unwrap().rows[0][0],
        Value::Int(42)
    );
    assert!(matches!(c.prepare("SELEKT").await.unwrap(), Err(e) if e.code == 1064));
    c.ping().await.unwrap();
    assert!(c.init_db("no_such_db_xyz").await.unwrap().is_err());
    assert!(c.reset_connection().await.unwrap().is_ok());
    // A server error mid-way leaves the connection usable.
    assert!(
        matches!(c.query_drop("SELECT * FROM nope_xyz").await, Err(BackendError::Server(e)) if e.code == 1146)
    );
    assert!(c.is_idle());
    // Misuse is refused, not a desync.
    c.send_query(b"SELECT 1").await.unwrap();
    assert!(matches!(
        c.send_query(b"SELECT 2").await,
        Err(BackendError::State(_))
    ));
    c.drain().await.unwrap();
    assert!(c.is_idle());
}

const MYSQL_LONGLONG: u8 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_are_clear() {
    let mut cfg = backend(Some("no_such_db_xyz"));
    match Connection::connect(&cfg).await {
        Err(BackendError::Auth { err, target }) => {
            assert_eq!(err.code, 1049);
            assert!(target.contains("127.0.0.1:3306"));
        }
        other => panic!("{other:?}"),
    }
    cfg.database = None;
    cfg.password = "wrong".into();
    assert!(
        matches!(Connection::connect(&cfg).await, Err(BackendError::Auth { err, .. }) if err.code == 1045)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_fast_auth_against_our_frontend() {
    let p = start_with(true, 1 << 20).await;
    let cfg = BackendConfig {
        host: "127.0.0.1".into(),
        port: p.addr.port(),
        user: USER.into(),
        password: PASSWORD.into(),
        database: Some(DB.into()),
        connect_timeout: Duration::from_secs(5),
        found_rows: false,
    };
    let mut c = Connection::connect(&cfg).await.unwrap();
    let r = c
        .query_collect("SELECT 'through two layers'")
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        vec![vec![Value::Bytes(b"through two layers".to_vec())]]
    );
}

/// A fake MySQL 8 that answers caching_sha2 with "perform full auth",
/// hands out an RSA public key and checks the decrypted password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_full_auth_with_rsa() {
    use rsa::pkcs8::EncodePublicKey;
    use rsa::{Oaep, RsaPrivateKey};

    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let pem = key
        .to_public_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let nonce = *b"abcdefghij0123456789";
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut out = PacketBuf::new();
        let mut r = PacketReader::new(1 << 20);
        out.push(&haoka_proxy::protocol::handshake::greeting(
            "8.0.36",
            7,
            &nonce,
            SERVER_CAPABILITIES,
            CACHING_SHA2_PASSWORD,
        ));
        out.flush(&mut s).await.unwrap();
        let (seq, _resp) = r.next(&mut s).await.unwrap().unwrap();
        out.seq = seq + 1;
        out.push(&[0x01, 0x04]); // perform full authentication
        out.flush(&mut s).await.unwrap();
        let (seq, req) = r.next(&mut s).await.unwrap().unwrap();
        assert_eq!(req, [0x02]);
        out.seq = seq + 1;
        let mut keypkt = vec![0x01];
        keypkt.extend_from_slice(pem.as_bytes());
        out.push(&keypkt);
        out.flush(&mut s).await.unwrap();
        let (seq, enc) = r.next(&mut s).await.unwrap().unwrap();
        let mut dec = key.decrypt(Oaep::new::<sha1::Sha1>(), enc).unwrap();
        for (i, b) in dec.iter_mut().enumerate() {
            *b ^= nonce[i % nonce.len()];
        }
        assert_eq!(dec, b"full-auth-pw\0");
        out.seq = seq + 1;
        let mut ok = Vec::new();
        encode_ok(
            &mut ok,
            0,
            &OkInfo {
                status: SERVER_STATUS_AUTOCOMMIT,
                ..Default::default()
            },
        );
        out.push(&ok);
        out.flush(&mut s).await.unwrap();
    });
    let cfg = BackendConfig {
        host: "127.0.0.1".into(),
        port,
        user: "u".into(),
        password: "full-auth-pw".into(),
        database: None,
        connect_timeout: Duration::from_secs(5),
        found_rows: false,
    };
    let c = Connection::connect(&cfg).await.unwrap();
    assert_eq!(c.server_version(), "8.0.36");
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_checkout_reuse_timeout_and_broken() {
    ensure_db().await;
    let pool = Pool::new(
        backend(Some(DB)),
        PoolConfig {
            min_idle: 1,
            max_size: 2,
            checkout_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(60),
            ping_after: Duration::from_millis(100),
            ..PoolConfig::default()
        },
    );
    // Let the reaper fill min_idle first, so its refill cannot land on top
    // of the connection returned below (the pool is LIFO).
    for _ in 0..100 {
        if pool.idle_count() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut a = pool.get().await.unwrap();
    let id_a = a.connection_id();
    a.query_drop("SELECT 1").await.unwrap();
    drop(a);
    let a = pool.get().await.unwrap();
    assert_eq!(a.connection_id(), id_a, "idle connection reused");
    let b = pool.get().await.unwrap();
    assert_eq!(pool.in_use(), 2);
    match pool.get().await {
        Err(e @ BackendError::PoolTimeout { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("root@127.0.0.1:3306/proto_test"), "{msg}");
        }
        other => panic!("expected timeout, got {other:?}"),
    }
    drop(b);
    // A connection left mid-result is not returned to the pool.
    let mut a = a;
    a.send_query(b"SELECT 1").await.unwrap();
    drop(a);
    let idle_before = pool.idle_count();
    let c = pool.get().await.unwrap();
    assert_ne!(c.connection_id(), id_a);
    drop(c);
    assert!(pool.idle_count() >= idle_before);
    // After sitting idle past ping_after, checkout pings (and still works).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut c = pool.get().await.unwrap();
    c.query_drop("SELECT 1").await.unwrap();
}

async fn t_begin_rows(c: &mut Connection) -> Value {
    let r = c
        .query_collect("SELECT COUNT(*) FROM t_begin")
        .await
        .unwrap();
    r.rows[0][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_goes_out_with_the_next_command() {
    ensure_db().await;
    let mut c = Connection::connect(&backend(Some(DB))).await.unwrap();
    let mut other = Connection::connect(&backend(Some(DB))).await.unwrap();
    c.query_drop("CREATE TABLE IF NOT EXISTS t_begin (id INT PRIMARY KEY)")
        .await
        .unwrap();
    c.query_drop("DELETE FROM t_begin").await.unwrap();
    // The INSERT runs inside the transaction BEGIN opened: invisible to
    // another session until COMMIT, gone after ROLLBACK.
    c.begin_with_next_command();
    assert!(c.begin_pending());
    c.query_drop("INSERT INTO t_begin VALUES (1)")
        .await
        .unwrap();
    assert!(!c.begin_pending());
    assert!(c.status() & SERVER_STATUS_IN_TRANS != 0, "in a transaction");
    assert_eq!(t_begin_rows(&mut other).await, Value::Bytes(b"0".to_vec()));
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(t_begin_rows(&mut other).await, Value::Bytes(b"0".to_vec()));
    // Also ahead of a prepared statement's EXECUTE (and its PREPARE).
    c.begin_with_next_command();
    let p = c
        .prepare_cached("INSERT INTO t_begin VALUES (?)")
        .await
        .unwrap()
        .unwrap();
    let r = c.execute(p.stmt_id, &[Value::Int(2)]).await.unwrap();
    assert!(
        matches!(r, Response::Ok(ref ok) if ok.affected_rows == 1),
        "{r:?}"
    );
    assert_eq!(t_begin_rows(&mut other).await, Value::Bytes(b"0".to_vec()));
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(t_begin_rows(&mut other).await, Value::Bytes(b"1".to_vec()));
    // A BEGIN never sent is forgotten when the connection goes back to a
    // pool: the next user runs in autocommit.
    let pool = Pool::new(backend(Some(DB)), PoolConfig::default());
    let mut a = pool.get().await.unwrap();
    let id = a.connection_id();
    a.begin_with_next_command();
    drop(a);
    let mut a = pool.get().await.unwrap();
    assert_eq!(a.connection_id(), id, "the same connection came back");
    assert!(!a.begin_pending());
    a.query_drop("INSERT INTO t_begin VALUES (3)")
        .await
        .unwrap();
    assert_eq!(t_begin_rows(&mut other).await, Value::Bytes(b"2".to_vec()));
}
