//! Router tests against the real schema/rules.toml.

use std::sync::Arc;

use mysql_common::value::Value;

use super::*;
use crate::merge::{AggFunc, Aggregate, BinaryOp, Expr, SortKey};
use crate::rules::{Place, Rules};

fn rules() -> Arc<Rules> {
    Arc::new(Rules::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/rules.toml")).unwrap())
}

struct Segs;
impl SegmentMap for Segs {
    fn province_of(&self, s: &str) -> Option<String> {
        match s {
            "1301234" => Some("51".into()),
            "1860100" => Some("11".into()),
            "1390000" => Some("17".into()),
            _ => None,
        }
    }
}

fn router() -> Router {
    Router::new(rules())
}

fn hk(sql: &str) -> Result<Routed, RouteError> {
    router().plan_text("haoka", sql, &Segs)
}

fn sb(sql: &str) -> Result<Routed, RouteError> {
    router().plan_text("sbtest", sql, &Segs)
}

fn plan(r: Result<Routed, RouteError>) -> ShardPlan {
    match r {
        Ok(Routed::Shards(p)) => p,
        other => panic!("expected shards, got {other:?}"),
    }
}

fn targets(p: &ShardPlan) -> Vec<(Place, &str)> {
    p.targets
        .iter()
        .map(|t| (p_of(t), t.sql.as_str()))
        .collect()
}

fn p_of(t: &Target) -> Place {
    t.place
}

fn places(p: &ShardPlan) -> Vec<Place> {
    p.targets.iter().map(|t| t.place).collect()
}

#[test]
fn point_select_on_sbtest() {
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id=123"));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(0), "SELECT c FROM `sbtest1` WHERE id = 123")]
    );
    assert!(p.merge.is_none());
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id=1500"));
    assert_eq!(places(&p), vec![Place::Data(1)]);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id = 7999"));
    assert_eq!(places(&p), vec![Place::Data(7)]);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id = 8000"));
    assert_eq!(places(&p), vec![Place::Data(0)]);
}

#[test]
fn in_or_between_and_ranges() {
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id IN (1, 1001, 2002)"));
    assert_eq!(
        places(&p),
        vec![Place::Data(0), Place::Data(1), Place::Data(2)]
    );
    assert!(p.merge.is_some());
    let p = plan(sb(
        "SELECT c FROM sbtest1 WHERE (id = 5 OR id = 3005) AND k > 1",
    ));
    assert_eq!(places(&p), vec![Place::Data(0), Place::Data(3)]);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id BETWEEN 950 AND 1049"));
    assert_eq!(places(&p), vec![Place::Data(0), Place::Data(1)]);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 99"));
    assert_eq!(places(&p), vec![Place::Data(0)]);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id >= 2000 AND id < 2500"));
    assert_eq!(places(&p), vec![Place::Data(2)]);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE 2100 <= id AND id <= 3100"));
    assert_eq!(places(&p), vec![Place::Data(2), Place::Data(3)]);
    // no key: scatter
    let p = plan(sb("SELECT c FROM sbtest1 WHERE k = 5"));
    assert_eq!(p.targets.len(), 8);
    let p = plan(sb("SELECT c FROM sbtest1 WHERE id = 1 OR k = 5"));
    assert_eq!(p.targets.len(), 8);
    // qualified and aliased
    let p = plan(sb("SELECT t.c FROM sbtest1 t WHERE t.id = 1500"));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(1),
            "SELECT t.c FROM `sbtest1` t WHERE t.id = 1500"
        )]
    );
    let p = plan(sb("SELECT sbtest1.c FROM sbtest1 WHERE sbtest1.id = 2500"));
    assert_eq!(places(&p), vec![Place::Data(2)]);
}

#[test]
fn derived_number_routing_to_shard_and_split_table() {
    let p = plan(hk(
        "SELECT status FROM phone_number WHERE phone_no = '13012345678'",
    ));
    // segment 1301234 -> province 51 -> shard 5; 1301234 mod 4 = 2
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(5),
            "SELECT status FROM `phone_number_2` AS phone_number WHERE phone_no = '13012345678'"
        )]
    );
    let p = plan(hk(
        "SELECT * FROM phone_number p WHERE p.segment = '1860100'",
    ));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(0),
            "SELECT * FROM `phone_number_0` p WHERE p.segment = '1860100'"
        )]
    );
    // province only: every split table of the shard
    let p = plan(hk(
        "SELECT COUNT(*) FROM phone_number WHERE province_code = '17' AND status = '03'",
    ));
    assert_eq!(p.targets.len(), 4);
    assert!(p.targets.iter().all(|t| t.place == Place::Data(3)));
    assert!(p.targets[3].sql.contains("`phone_number_3`"));
    assert_eq!(
        p.merge.as_ref().unwrap().spec().aggregates,
        vec![Aggregate {
            column: 0,
            func: AggFunc::Count
        }]
    );
    // province and segment: one table
    let p = plan(hk(
        "SELECT * FROM phone_number WHERE province_code = '51' AND segment = '1301234'",
    ));
    assert_eq!(places(&p), vec![Place::Data(5)]);
    // number_history derives the province too (not split)
    let p = plan(hk(
        "SELECT * FROM number_history WHERE phone_no = '18601001234'",
    ));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(0),
            "SELECT * FROM `number_history` WHERE phone_no = '18601001234'"
        )]
    );
    // unknown segment / province: clear errors
    let e = hk("SELECT * FROM phone_number WHERE phone_no = '19999999999'").unwrap_err();
    assert!(matches!(e, RouteError::UnknownSegment { .. }), "{e}");
    assert_eq!(e.code(), 1105);
    let e = hk("SELECT * FROM sim_card WHERE province_code = '99'").unwrap_err();
    assert!(matches!(e, RouteError::UnknownProvince(_)), "{e}");
    // hash-sharded index table
    let p = plan(hk(
        "SELECT province_code FROM card_iccid_index WHERE iccid = '89860100000000000001'",
    ));
    assert_eq!(p.targets.len(), 1);
}

#[test]
fn multi_row_insert_is_split_per_shard_and_table() {
    let p = plan(hk(
        "INSERT INTO phone_number (phone_no, segment, province_code, city_code, tail4) VALUES \
         ('13012345678', '1301234', '51', '510', '5678'), ('18601001111', '1860100', '11', '110', '1111'), \
         ('13012340000', '1301234', '51', '510', '0000')",
    ));
    assert_eq!(p.kind, StmtKind::Insert);
    assert_eq!(
        targets(&p),
        vec![
            (Place::Data(0), "INSERT INTO `phone_number_0` (phone_no, segment, province_code, city_code, tail4) VALUES ('18601001111', '1860100', '11', '110', '1111')"),
            (Place::Data(5), "INSERT INTO `phone_number_2` (phone_no, segment, province_code, city_code, tail4) VALUES ('13012345678', '1301234', '51', '510', '5678'), ('13012340000', '1301234', '51', '510', '0000')"),
        ]
    );
    assert_eq!(p.rows, vec![1, 2]);
    // derived from phone_no only
    let p = plan(hk(
        "INSERT INTO phone_number (phone_no, city_code) VALUES ('13012345678', '510')",
    ));
    assert_eq!(places(&p), vec![Place::Data(5)]);
    assert!(p.targets[0].sql.contains("`phone_number_2`"));
    // a row without key
    let e = hk("INSERT INTO sim_card (card_id, iccid) VALUES (1, '898601')").unwrap_err();
    assert!(
        matches!(e, RouteError::MissingShardKey { row: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("province_code"), "{e}");
    let e =
        hk("INSERT INTO phone_number (province_code, city_code) VALUES ('51', '510')").unwrap_err();
    assert!(e.to_string().contains("routing key column segment"), "{e}");
    let e = hk("INSERT INTO phone_number VALUES ('13012345678')").unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
}

#[test]
fn insert_with_sequence_ids_on_sbtest() {
    let r = router();
    let routed = r
        .plan_text(
            "sbtest",
            "INSERT INTO sbtest1(k, c, pad) VALUES(5, 'a', 'b'),(6,'c','d'),(7,'e','f')",
            &Segs,
        )
        .unwrap();
    let Routed::NeedIds(pending) = routed else {
        panic!("{routed:?}")
    };
    assert_eq!(
        (
            pending.sequence.as_str(),
            pending.column.as_str(),
            pending.count
        ),
        ("sbtest1", "id", 3)
    );
    let p = plan(pending.bind_ids(&[999, 1000, 1001], &Segs));
    assert_eq!(
        targets(&p),
        vec![
            (Place::Data(0), "INSERT INTO `sbtest1` (k, c, pad, id) VALUES (5, 'a', 'b', 999)"),
            (Place::Data(1), "INSERT INTO `sbtest1` (k, c, pad, id) VALUES (6, 'c', 'd', 1000), (7, 'e', 'f', 1001)"),
        ]
    );
    assert_eq!(p.ids, vec![999, 1000, 1001]);
    assert!(pending.bind_ids(&[1], &Segs).is_err());
    // NULL id gets one, explicit id does not
    let Routed::NeedIds(pending) = r
        .plan_text(
            "sbtest",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (NULL, 1, 'x', 'y'), (4001, 2, 'z', 'w')",
            &Segs,
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(pending.count, 1);
    let p = plan(pending.bind_ids(&[12], &Segs));
    assert_eq!(
        targets(&p),
        vec![
            (
                Place::Data(0),
                "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (12, 1, 'x', 'y')"
            ),
            (
                Place::Data(4),
                "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (4001, 2, 'z', 'w')"
            ),
        ]
    );
    // sysbench oltp_insert with auto_inc sends id 0: MySQL generates the id
    let Routed::NeedIds(pending) = r
        .plan_text(
            "sbtest",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 5, 'c', 'p')",
            &Segs,
        )
        .unwrap()
    else {
        panic!()
    };
    let p = plan(pending.bind_ids(&[2001], &Segs));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(2),
            "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (2001, 5, 'c', 'p')"
        )]
    );
    // several rows, ids given as 0 / NULL / a value
    let Routed::NeedIds(pending) = r
        .plan_text("sbtest", "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 1, 'a', 'a'), (7001, 2, 'b', 'b'), (0, 3, 'c', 'c'), (NULL, 4, 'd', 'd')", &Segs)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(pending.count, 3);
    let p = plan(pending.bind_ids(&[1001, 1002, 3003], &Segs));
    assert_eq!(
        targets(&p),
        vec![
            (Place::Data(1), "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (1001, 1, 'a', 'a'), (1002, 3, 'c', 'c')"),
            (Place::Data(3), "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (3003, 4, 'd', 'd')"),
            (Place::Data(7), "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (7001, 2, 'b', 'b')"),
        ]
    );
    assert_eq!(p.ids, vec![1001, 1002, 3003]);
    // prepared, id bound to NULL
    let ps = r
        .prepare(
            "sbtest",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
        )
        .unwrap();
    let Routed::NeedIds(pending) = ps
        .bind(
            &[
                Value::NULL,
                Value::Int(1),
                Value::Bytes(b"c".to_vec()),
                Value::Bytes(b"p".to_vec()),
            ],
            &Segs,
        )
        .unwrap()
    else {
        panic!()
    };
    let p = plan(pending.bind_ids(&[3000], &Segs));
    assert_eq!(places(&p), vec![Place::Data(3)]);
    assert_eq!(
        p.targets[0].sql,
        "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (3000, 1, 'c', 'p')"
    );
    // The drawn id is a parameter of the backend statement, so its text is
    // the same for every id (prepared once per connection, not per row).
    let prep = p.targets[0].prepared.clone().unwrap();
    assert_eq!(
        prep.sql,
        "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (?, ?, ?, ?)"
    );
    assert_eq!(
        prep.params,
        vec![
            ParamSource::Computed(3000),
            ParamSource::Client(1),
            ParamSource::Client(2),
            ParamSource::Client(3)
        ]
    );
    assert!(!prep.forwards_as_is(4));
    assert_eq!(
        prep.values(&[Value::NULL, Value::Int(1), Value::Int(2), Value::Int(3)]),
        vec![
            Value::UInt(3000),
            Value::Int(1),
            Value::Int(2),
            Value::Int(3)
        ]
    );
    let other = plan(pending.bind_ids(&[3001], &Segs));
    assert_eq!(other.targets[0].prepared.as_ref().unwrap().sql, prep.sql);
    let p = plan(ps.bind(
        &[
            Value::Int(5000),
            Value::Int(1),
            Value::Bytes(b"c".to_vec()),
            Value::Bytes(b"p".to_vec()),
        ],
        &Segs,
    ));
    assert_eq!(places(&p), vec![Place::Data(5)]);
    let prep = p.targets[0].prepared.as_ref().unwrap();
    assert_eq!(
        prep.sql,
        "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (?, ?, ?, ?)"
    );
    assert!(prep.forwards_as_is(4));
    // a sequence on a broadcast table
    let Routed::NeedIds(pending) = r
        .plan_text(
            "haoka",
            "INSERT INTO depot (province_code, city_code, name) VALUES ('51', '510', 'x')",
            &Segs,
        )
        .unwrap()
    else {
        panic!()
    };
    let p = plan(pending.bind_ids(&[77], &Segs));
    assert!(p.broadcast);
    assert_eq!(p.targets.len(), 9);
    assert!(
        p.targets[0].sql.ends_with("VALUES ('51', '510', 'x', 77)"),
        "{}",
        p.targets[0].sql
    );
}

#[test]
fn shard_key_update_is_refused() {
    let e = hk("UPDATE phone_number SET province_code = '11' WHERE phone_no = '13012345678'")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "haoka: cannot update shard key column province_code of sharded table phone_number; delete and re-insert the row instead"
    );
    assert_eq!((e.code(), e.sqlstate()), (1105, "HY000"));
    assert!(hk("UPDATE phone_number SET segment = '1' WHERE phone_no = '13012345678'").is_err());
    assert!(sb("UPDATE sbtest1 SET id = 5 WHERE id = 1").is_err());
    assert!(sb("INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 1, 'a', 'b') ON DUPLICATE KEY UPDATE id = 2").is_err());
    // other columns are fine
    let p = plan(hk("UPDATE phone_number SET status = '04', version = version + 1 WHERE phone_no = '13012345678' AND status = '03'"));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(5), "UPDATE `phone_number_2` AS phone_number SET status = '04', version = version + 1 WHERE phone_no = '13012345678' AND status = '03'")]
    );
}

#[test]
fn unknown_table_and_schema() {
    let e = hk("SELECT * FROM nosuch WHERE a = 1").unwrap_err();
    assert_eq!(e.to_string(), "Table 'haoka.nosuch' doesn't exist");
    assert_eq!((e.code(), e.sqlstate()), (1146, "42S02"));
    let e = router().plan_text("nodb", "SELECT 1", &Segs).unwrap_err();
    assert_eq!(e.code(), 1049);
    assert_eq!(
        hk("INSERT INTO nosuch (a) VALUES (1)").unwrap_err().code(),
        1146
    );
    assert_eq!(hk("DROP TABLE nosuch").unwrap_err().code(), 1146);
}

#[test]
fn broadcast_and_global_tables() {
    let p = plan(hk("SELECT name FROM province WHERE province_code = '51'"));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(0),
            "SELECT name FROM `province` WHERE province_code = '51'"
        )]
    );
    assert!(p.any_copy && !p.broadcast);
    let p = plan(hk(
        "UPDATE province SET name = 'x' WHERE province_code = '51'",
    ));
    assert!(p.broadcast);
    assert_eq!(p.targets.len(), 9);
    assert_eq!(p.targets[8].place, Place::Global);
    let p = plan(hk("INSERT INTO province (province_code, name, short_name, capital_city_code) VALUES ('99', 'x', 'x', '990')"));
    assert!(p.broadcast);
    assert_eq!(p.targets.len(), 9);
    let p = plan(hk("DELETE FROM dictionary WHERE 1 = 0"));
    assert_eq!(p.targets.len(), 9);
    let p = plan(hk("SELECT * FROM staff s JOIN department d ON s.department_id = d.department_id WHERE s.staff_id = 5"));
    assert_eq!(places(&p), vec![Place::Global]);
    let p = plan(hk(
        "SELECT s.name, p.name FROM staff s JOIN province p ON s.province_code = p.province_code",
    ));
    assert_eq!(places(&p), vec![Place::Global]);
    // sharded + broadcast: local copy
    let p = plan(hk("SELECT n.phone_no, s.city_code FROM phone_number n JOIN segment s ON n.segment = s.segment WHERE n.phone_no = '13012345678'"));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(5), "SELECT n.phone_no, s.city_code FROM `phone_number_2` n JOIN `segment` s ON n.segment = s.segment WHERE n.phone_no = '13012345678'")]
    );
    // global + sharded: refused
    let e = hk("SELECT * FROM staff s JOIN sim_card c ON s.staff_id = c.card_id").unwrap_err();
    assert!(matches!(e, RouteError::CrossShardJoin(_)), "{e}");
    assert_eq!(e.code(), 1235);
}

#[test]
fn joins_and_subqueries_between_sharded_tables() {
    let p = plan(hk("SELECT * FROM sim_card c JOIN card_history h ON c.province_code = h.province_code AND c.card_id = h.card_id WHERE c.province_code = '51'"));
    assert_eq!(places(&p), vec![Place::Data(5)]);
    assert!(
        p.targets[0]
            .sql
            .contains("FROM `sim_card` c JOIN `card_history` h"),
        "{}",
        p.targets[0].sql
    );
    // no shard-key condition: scattered, still co-located
    let p = plan(hk("SELECT c.card_id FROM sim_card c JOIN card_history h ON c.province_code = h.province_code WHERE h.action = 'x'"));
    assert_eq!(p.targets.len(), 8);
    let e =
        hk("SELECT * FROM sim_card c JOIN card_history h ON c.card_id = h.card_id").unwrap_err();
    assert!(matches!(e, RouteError::CrossShardJoin(_)), "{e}");
    // split table joined with an unsplit one on the province
    let p = plan(hk("SELECT * FROM phone_number n JOIN number_history h ON n.province_code = h.province_code AND n.phone_no = h.phone_no WHERE n.phone_no = '13012345678'"));
    assert_eq!(places(&p), vec![Place::Data(5)]);
    assert!(
        p.targets[0]
            .sql
            .contains("`phone_number_2` n JOIN `number_history` h"),
        "{}",
        p.targets[0].sql
    );
    // subquery on the same shard: allowed
    let p = plan(sb(
        "SELECT c FROM sbtest1 WHERE id = 5 AND k IN (SELECT k FROM sbtest2 WHERE id = 7)",
    ));
    assert_eq!(places(&p), vec![Place::Data(0)]);
    assert_eq!(
        p.targets[0].sql,
        "SELECT c FROM `sbtest1` WHERE id = 5 AND k IN (SELECT k FROM `sbtest2` WHERE id = 7)"
    );
    let e =
        sb("SELECT c FROM sbtest1 WHERE id = 5 AND k IN (SELECT k FROM sbtest2 WHERE id = 1007)")
            .unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
    let e = sb("SELECT c FROM sbtest1 WHERE k IN (SELECT k FROM sbtest2)").unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
    // derived table on one shard
    let p = plan(sb(
        "SELECT x.c FROM (SELECT c FROM sbtest1 WHERE id = 3 LIMIT 5) x",
    ));
    assert_eq!(places(&p), vec![Place::Data(0)]);
    let p = plan(sb(
        "SELECT c FROM sbtest1 WHERE id = 3 UNION ALL SELECT c FROM sbtest2 WHERE id = 4",
    ));
    assert_eq!(places(&p), vec![Place::Data(0)]);
    assert_eq!(
        sb("SELECT c FROM sbtest1 WHERE id = 3 UNION ALL SELECT c FROM sbtest2 WHERE id = 1004")
            .unwrap_err()
            .code(),
        1235
    );
    // broadcast-only subquery in a scatter: fine
    let p = plan(hk("SELECT phone_no FROM phone_number WHERE segment IN (SELECT segment FROM segment WHERE city_code = '510')"));
    assert_eq!(p.targets.len(), 32);
}

#[test]
fn ddl_fan_out_as_sysbench_sends_it() {
    let create = "CREATE TABLE sbtest1(\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  k INTEGER DEFAULT '0' NOT NULL,\n  c CHAR(120) DEFAULT '' NOT NULL,\n  pad CHAR(60) DEFAULT '' NOT NULL,\n  PRIMARY KEY (id)\n) /*! ENGINE = innodb */ ";
    let p = plan(sb(create));
    assert_eq!(p.kind, StmtKind::Ddl);
    assert_eq!(p.targets.len(), 8);
    assert_eq!(
        p.targets[3].sql,
        "CREATE TABLE `sbtest1` (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) ENGINE = innodb"
    );
    assert_eq!(p.targets[3].place, Place::Data(3));
    let p = plan(sb("CREATE INDEX k_1 ON sbtest1(k)"));
    assert_eq!(p.targets.len(), 8);
    assert_eq!(p.targets[0].sql, "CREATE INDEX k_1 ON `sbtest1`(k)");
    // split table: every physical table of every shard
    let p = plan(hk("ALTER TABLE phone_number ADD COLUMN note VARCHAR(10)"));
    assert_eq!(p.targets.len(), 32);
    assert!(
        p.targets[5].sql.contains("`phone_number_1`"),
        "{}",
        p.targets[5].sql
    );
    let p = plan(hk("DROP TABLE IF EXISTS province"));
    assert_eq!(p.targets.len(), 9);
    assert_eq!(p.targets[0].sql, "DROP TABLE IF EXISTS `province`");
    let p = plan(hk("TRUNCATE TABLE staff"));
    assert_eq!(targets(&p), vec![(Place::Global, "TRUNCATE TABLE `staff`")]);
    let p = plan(hk("DROP INDEX idx_x ON sim_card"));
    assert_eq!(p.targets[0].sql, "DROP INDEX idx_x ON `sim_card`");
    let p = plan(sb("DROP TABLE IF EXISTS sbtest1"));
    assert_eq!(p.targets.len(), 8);
}

fn spec(p: &ShardPlan) -> crate::merge::MergeSpec {
    p.merge.as_ref().expect("merge").spec().clone()
}

#[test]
fn merge_order_by_and_limit() {
    let p = plan(sb(
        "SELECT id, c FROM sbtest1 WHERE k = 1 ORDER BY c DESC, 1 LIMIT 10, 5",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT id, c FROM `sbtest1` WHERE k = 1 ORDER BY c DESC, 1 LIMIT 15"
    );
    let s = spec(&p);
    assert_eq!(s.visible, 2);
    assert_eq!(
        s.order_by,
        vec![
            SortKey {
                column: 1,
                descending: true
            },
            SortKey {
                column: 0,
                descending: false
            }
        ]
    );
    assert_eq!((s.offset, s.limit), (10, Some(5)));
    // ORDER BY a column not selected: hidden column
    let p = plan(sb("SELECT c FROM sbtest1 ORDER BY k LIMIT 3 OFFSET 2"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT c, k FROM `sbtest1` ORDER BY k LIMIT 5"
    );
    let m = p.merge.as_ref().unwrap();
    assert_eq!((m.spec().visible, m.hidden), (1, 1));
    assert_eq!(
        m.spec().order_by,
        vec![SortKey {
            column: 1,
            descending: false
        }]
    );
    // alias
    let p = plan(sb("SELECT k AS kk FROM sbtest1 ORDER BY kk"));
    assert_eq!(
        spec(&p).order_by,
        vec![SortKey {
            column: 0,
            descending: false
        }]
    );
    // SELECT * ORDER BY name: hidden column, resolved against the real width
    let p = plan(sb("SELECT * FROM sbtest1 ORDER BY c"));
    assert_eq!(p.targets[0].sql, "SELECT *, c FROM `sbtest1` ORDER BY c");
    let m = p.merge.as_ref().unwrap();
    assert!(m.wildcard);
    let s = m.spec_for(5);
    assert_eq!(s.visible, 4);
    assert_eq!(
        s.order_by,
        vec![SortKey {
            column: 4,
            descending: false
        }]
    );
}

#[test]
fn merge_aggregates_avg_group_having_distinct() {
    let p = plan(sb("SELECT COUNT(*), SUM(k), MIN(c), MAX(c) FROM sbtest1"));
    assert_eq!(
        spec(&p).aggregates,
        vec![
            Aggregate {
                column: 0,
                func: AggFunc::Count
            },
            Aggregate {
                column: 1,
                func: AggFunc::Sum
            },
            Aggregate {
                column: 2,
                func: AggFunc::Min
            },
            Aggregate {
                column: 3,
                func: AggFunc::Max
            },
        ]
    );
    let p = plan(sb("SELECT AVG(k) FROM sbtest1"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT AVG(k), SUM(k), COUNT(k) FROM `sbtest1`"
    );
    let s = spec(&p);
    assert_eq!(s.visible, 1);
    assert_eq!(
        s.aggregates,
        vec![
            Aggregate {
                column: 1,
                func: AggFunc::Sum
            },
            Aggregate {
                column: 2,
                func: AggFunc::Count
            },
            Aggregate {
                column: 0,
                func: AggFunc::Avg {
                    sum: 1,
                    count: 2,
                    exact: None
                }
            }
        ]
    );
    // GROUP BY without ORDER BY: shards sort by the group keys
    let p = plan(sb("SELECT k, COUNT(*) AS n FROM sbtest1 GROUP BY k"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT k, COUNT(*) AS n FROM `sbtest1` GROUP BY k ORDER BY 1"
    );
    let s = spec(&p);
    assert_eq!(s.group_by, vec![0]);
    assert!(s.groups_sorted);
    assert_eq!(
        s.order_by,
        vec![SortKey {
            column: 0,
            descending: false
        }]
    );
    // HAVING on an aggregate not selected, moved to the merger
    let p = plan(sb(
        "SELECT k FROM sbtest1 GROUP BY k HAVING COUNT(*) > 2 ORDER BY k DESC LIMIT 3",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT k, COUNT(*) FROM `sbtest1` GROUP BY k ORDER BY k DESC"
    );
    let s = spec(&p);
    assert_eq!(
        s.aggregates,
        vec![Aggregate {
            column: 1,
            func: AggFunc::Count
        }]
    );
    assert_eq!(
        s.having,
        Some(Expr::Binary {
            op: BinaryOp::Gt,
            left: Box::new(Expr::Column(1)),
            right: Box::new(Expr::Literal(Value::Int(2)))
        })
    );
    assert!(!s.groups_sorted);
    assert_eq!((s.offset, s.limit), (0, Some(3)));
    // GROUP BY ordered by an aggregate with LIMIT: no shard limit
    let p = plan(sb(
        "SELECT k, COUNT(*) FROM sbtest1 GROUP BY k ORDER BY 2 DESC LIMIT 2",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT k, COUNT(*) FROM `sbtest1` GROUP BY k ORDER BY 2 DESC"
    );
    // GROUP BY ordered by its key with LIMIT: shard limit is safe
    let p = plan(sb(
        "SELECT k, SUM(id) FROM sbtest1 GROUP BY k ORDER BY k LIMIT 2",
    ));
    assert!(
        p.targets[0].sql.ends_with("ORDER BY k LIMIT 2"),
        "{}",
        p.targets[0].sql
    );
    // DISTINCT
    let p = plan(sb("SELECT DISTINCT c FROM sbtest1 ORDER BY c"));
    let s = spec(&p);
    assert!(s.distinct);
    assert_eq!(
        s.order_by,
        vec![SortKey {
            column: 0,
            descending: false
        }]
    );
    // not mergeable
    for sql in [
        "SELECT COUNT(DISTINCT k) FROM sbtest1",
        "SELECT GROUP_CONCAT(c) FROM sbtest1",
        "SELECT SUM(k) + 1 FROM sbtest1",
        "SELECT c, ROW_NUMBER() OVER (ORDER BY id) FROM sbtest1",
        "SELECT c FROM sbtest1 UNION SELECT c FROM sbtest2",
    ] {
        let e = sb(sql).unwrap_err();
        assert_eq!(e.code(), 1235, "{sql}: {e}");
    }
    // ...but fine on one shard, untouched
    let p = plan(sb(
        "SELECT COUNT(DISTINCT k), GROUP_CONCAT(c) FROM sbtest1 WHERE id = 5",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT COUNT(DISTINCT k), GROUP_CONCAT(c) FROM `sbtest1` WHERE id = 5"
    );
}

#[test]
fn sysbench_prepared_statements_route_exactly() {
    let r = router();
    let int = |v: i64| Value::Int(v);
    let point = r
        .prepare("sbtest", "SELECT c FROM sbtest1 WHERE id=?")
        .unwrap();
    assert_eq!(point.params(), 1);
    for (id, shard) in [
        (1, 0),
        (999, 0),
        (1000, 1),
        (7999, 7),
        (8000, 0),
        (123456, 3),
    ] {
        let p = plan(point.bind(&[int(id)], &Segs));
        assert_eq!(places(&p), vec![Place::Data(shard)], "id {id}");
        let prep = p.targets[0].prepared.clone().unwrap();
        assert_eq!(prep.sql, "SELECT c FROM `sbtest1` WHERE id = ?");
        assert!(prep.forwards_as_is(1));
        assert_eq!(
            p.targets[0].sql,
            format!("SELECT c FROM `sbtest1` WHERE id = {id}")
        );
    }
    let range = r
        .prepare("sbtest", "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?")
        .unwrap();
    assert_eq!(
        places(&plan(range.bind(&[int(100), int(199)], &Segs))),
        vec![Place::Data(0)]
    );
    let p = plan(range.bind(&[int(950), int(1049)], &Segs));
    assert_eq!(places(&p), vec![Place::Data(0), Place::Data(1)]);
    let sum = r
        .prepare(
            "sbtest",
            "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?",
        )
        .unwrap();
    let p = plan(sum.bind(&[int(950), int(1049)], &Segs));
    assert_eq!(
        spec(&p).aggregates,
        vec![Aggregate {
            column: 0,
            func: AggFunc::Sum
        }]
    );
    assert_eq!(
        places(&plan(sum.bind(&[int(3000), int(3099)], &Segs))),
        vec![Place::Data(3)]
    );
    let ord = r
        .prepare(
            "sbtest",
            "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
        )
        .unwrap();
    let p = plan(ord.bind(&[int(1990), int(2089)], &Segs));
    assert_eq!(places(&p), vec![Place::Data(1), Place::Data(2)]);
    assert_eq!(
        spec(&p).order_by,
        vec![SortKey {
            column: 0,
            descending: false
        }]
    );
    assert_eq!(
        p.targets[0].sql,
        "SELECT c FROM `sbtest1` WHERE id BETWEEN 1990 AND 2089 ORDER BY c"
    );
    let dist = r
        .prepare(
            "sbtest",
            "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
        )
        .unwrap();
    let p = plan(dist.bind(&[int(1990), int(2089)], &Segs));
    assert!(spec(&p).distinct);
    assert_eq!(
        places(&plan(dist.bind(&[int(5), int(104)], &Segs))),
        vec![Place::Data(0)]
    );
    let upd = r
        .prepare("sbtest", "UPDATE sbtest1 SET k=k+1 WHERE id=?")
        .unwrap();
    let p = plan(upd.bind(&[int(2500)], &Segs));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(2),
            "UPDATE `sbtest1` SET k = k + 1 WHERE id = 2500"
        )]
    );
    let upd = r
        .prepare("sbtest", "UPDATE sbtest1 SET c=? WHERE id=?")
        .unwrap();
    let p = plan(upd.bind(&[Value::Bytes(b"x'y".to_vec()), int(6500)], &Segs));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(6),
            "UPDATE `sbtest1` SET c = 'x\\'y' WHERE id = 6500"
        )]
    );
    assert_eq!(
        p.targets[0].prepared.as_ref().unwrap().sql,
        "UPDATE `sbtest1` SET c = ? WHERE id = ?"
    );
    let del = r
        .prepare("sbtest", "DELETE FROM sbtest1 WHERE id=?")
        .unwrap();
    assert_eq!(
        places(&plan(del.bind(&[int(4321)], &Segs))),
        vec![Place::Data(4)]
    );
    let ins = r
        .prepare(
            "sbtest",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
        )
        .unwrap();
    let p = plan(ins.bind(
        &[
            int(4321),
            int(1),
            Value::Bytes(b"c".to_vec()),
            Value::Bytes(b"p".to_vec()),
        ],
        &Segs,
    ));
    assert_eq!(places(&p), vec![Place::Data(4)]);
    // wrong parameter count
    assert_eq!(point.bind(&[], &Segs).unwrap_err().code(), 1210);
}

#[test]
fn text_cache_hit_equals_cold_plan() {
    let r = router();
    let cold = r
        .plan_text("sbtest", "SELECT c FROM sbtest1 WHERE id=123", &Segs)
        .unwrap();
    assert_eq!(r.cached_plans(), 1);
    let hot = r
        .plan_text("sbtest", "SELECT c FROM sbtest1 WHERE id=123", &Segs)
        .unwrap();
    assert_eq!(cold, hot);
    assert_eq!(r.cached_plans(), 1);
    let other = plan(r.plan_text("sbtest", "SELECT c FROM sbtest1 WHERE id=4123", &Segs));
    assert_eq!(r.cached_plans(), 1);
    assert_eq!(
        targets(&other),
        vec![(Place::Data(4), "SELECT c FROM `sbtest1` WHERE id = 4123")]
    );
    // bulk inserts are not cached
    let mut bulk = String::from("INSERT INTO sbtest1 (id, k, c, pad) VALUES ");
    for i in 1..=100 {
        if i > 1 {
            bulk.push_str(", ");
        }
        bulk.push_str(&format!("({i}, {i}, 'c', 'p')"));
    }
    let p = plan(r.plan_text("sbtest", &bulk, &Segs));
    assert_eq!(p.rows, vec![100]);
    assert_eq!(r.cached_plans(), 1);
    // a fresh router (cold) gives the same as the cache hit
    let fresh = plan(router().plan_text("sbtest", "SELECT c FROM sbtest1 WHERE id=4123", &Segs));
    assert_eq!(fresh, other);
    // hint is part of the key
    let h = plan(r.plan_text(
        "sbtest",
        "/*+ HAOKA shard=6 */ SELECT c FROM sbtest1 WHERE id=123",
        &Segs,
    ));
    assert_eq!(places(&h), vec![Place::Data(6)]);
    assert_eq!(r.cached_plans(), 2);
    let t = plan(r.plan_text(
        "haoka",
        "SELECT * FROM phone_number WHERE phone_no = '13012345678' AND status IN ('03', '04')",
        &Segs,
    ));
    let t2 = plan(r.plan_text(
        "haoka",
        "SELECT * FROM phone_number WHERE phone_no = '18601001234' AND status IN ('03', '04')",
        &Segs,
    ));
    assert_eq!(places(&t), vec![Place::Data(5)]);
    assert_eq!(targets(&t2), vec![(Place::Data(0), "SELECT * FROM `phone_number_0` AS phone_number WHERE phone_no = '18601001234' AND status IN ('03', '04')")]);
}

#[test]
fn hints() {
    let p = plan(sb("/*+ HAOKA shard=3 */ SELECT COUNT(*) FROM sbtest1"));
    assert_eq!(places(&p), vec![Place::Data(3)]);
    assert!(p.merge.is_none());
    let p = plan(sb("SELECT /*+ HAOKA shard=2 */ c FROM sbtest1 WHERE k = 1"));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(2), "SELECT c FROM `sbtest1` WHERE k = 1")]
    );
    let p = plan(hk("/*+ HAOKA shard=global */ SELECT * FROM province"));
    assert_eq!(places(&p), vec![Place::Global]);
    let p = plan(hk(
        "/*+ HAOKA shard=1 */ SELECT * FROM phone_number WHERE status = '03'",
    ));
    assert_eq!(p.targets.len(), 4);
    assert!(p.targets.iter().all(|t| t.place == Place::Data(1)));
    assert_eq!(
        sb("/*+ HAOKA shard=9 */ SELECT 1 FROM sbtest1")
            .unwrap_err()
            .code(),
        1105
    );
    assert!(matches!(
        sb("/*+ HAOKA shard=x */ SELECT 1").unwrap_err(),
        RouteError::BadHint(_)
    ));
}

#[test]
fn session_admin_metadata_and_no_table() {
    let s = |sql: &str| match hk(sql).unwrap() {
        Routed::Session(c) => c,
        other => panic!("{sql}: {other:?}"),
    };
    assert_eq!(
        s("SET NAMES utf8mb4"),
        SessionCommand::SetNames {
            charset: "utf8mb4".into(),
            collation: None
        }
    );
    assert_eq!(s("SET autocommit=0"), SessionCommand::SetAutocommit(false));
    assert_eq!(
        s("set autocommit = ON"),
        SessionCommand::SetAutocommit(true)
    );
    assert!(matches!(s("SET @a = 5"), SessionCommand::Set { .. }));
    assert!(matches!(
        s("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'"),
        SessionCommand::Set { .. }
    ));
    assert_eq!(s("USE sbtest"), SessionCommand::Use("sbtest".into()));
    assert_eq!(
        s("SET @@session.autocommit = 1"),
        SessionCommand::SetAutocommit(true)
    );
    assert_eq!(
        s("SET CHARACTER SET utf8mb4"),
        SessionCommand::SetNames {
            charset: "utf8mb4".into(),
            collation: None
        }
    );
    assert_eq!(
        s("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'"),
        SessionCommand::SetNames {
            charset: "utf8mb4".into(),
            collation: Some("utf8mb4_general_ci".into())
        }
    );
    assert_eq!(
        s("START TRANSACTION WITH CONSISTENT SNAPSHOT"),
        SessionCommand::Begin { read_only: false }
    );
    assert!(matches!(
        s("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        SessionCommand::Set { .. }
    ));
    assert!(matches!(
        hk("SELECT 1 FROM DUAL").unwrap(),
        Routed::NoTable { .. }
    ));
    assert_eq!(s("BEGIN"), SessionCommand::Begin { read_only: false });
    assert_eq!(
        s("START TRANSACTION READ ONLY"),
        SessionCommand::Begin { read_only: true }
    );
    assert_eq!(s("COMMIT"), SessionCommand::Commit);
    assert_eq!(s("ROLLBACK"), SessionCommand::Rollback);
    assert_eq!(s("SAVEPOINT a"), SessionCommand::Savepoint("a".into()));
    assert_eq!(
        s("ROLLBACK TO SAVEPOINT a"),
        SessionCommand::RollbackToSavepoint("a".into())
    );
    assert_eq!(
        s("RELEASE SAVEPOINT a"),
        SessionCommand::ReleaseSavepoint("a".into())
    );
    assert!(matches!(
        hk("SHOW DATABASES").unwrap(),
        Routed::Metadata(Metadata::Databases {
            filter: ShowFilter::All
        })
    ));
    assert!(matches!(
        hk("SHOW FULL TABLES").unwrap(),
        Routed::Metadata(Metadata::Tables { full: true, .. })
    ));
    let rules = rules();
    let haoka = rules.schema("haoka").unwrap();
    match hk("SHOW CREATE TABLE phone_number").unwrap() {
        Routed::Metadata(Metadata::Table { db, table, show }) => {
            assert_eq!((db, table.as_str()), (None, "phone_number"));
            let target = table_target(haoka, &table, &show).unwrap();
            assert_eq!(target.sql, "SHOW CREATE TABLE `phone_number_0`");
            assert_eq!(target.place, Place::Data(0));
        }
        other => panic!("{other:?}"),
    }
    match sb("SHOW FULL COLUMNS FROM `staff` FROM haoka LIKE 'n%'").unwrap() {
        Routed::Metadata(Metadata::Table { db, table, show }) => {
            assert_eq!(
                db.as_deref(),
                Some("haoka"),
                "the qualifier names another schema"
            );
            let target = table_target(haoka, &table, &show).unwrap();
            assert_eq!(target.sql, "SHOW FULL COLUMNS FROM `staff` LIKE 'n%'");
            assert_eq!(target.place, Place::Global);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        hk("SHOW INDEX FROM sim_card").unwrap(),
        Routed::Metadata(Metadata::Table { .. })
    ));
    assert!(matches!(
        sb("DESC haoka.sim_card").unwrap(),
        Routed::Metadata(Metadata::Table { db: Some(_), .. })
    ));
    assert!(matches!(
        sb("SHOW TABLE STATUS FROM haoka LIKE 'sim%'").unwrap(),
        Routed::Metadata(Metadata::TableStatus { db: Some(_), .. })
    ));
    for sql in [
        "SHOW VARIABLES LIKE 'x%'",
        "SHOW WARNINGS",
        "SHOW STATUS",
        "SELECT * FROM information_schema.tables WHERE table_schema = 'haoka'",
    ] {
        assert!(
            matches!(
                hk(sql).unwrap(),
                Routed::Metadata(Metadata::AnyShard { .. })
            ),
            "{sql}"
        );
    }
    assert_eq!(
        hk("SELECT table_name FROM information_schema.tables WHERE table_schema = 'haoka'")
            .unwrap(),
        Routed::Metadata(Metadata::AnyShard {
            sql: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'haoka'"
                .into()
        })
    );
    let ps = router()
        .prepare(
            "haoka",
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
        )
        .unwrap();
    assert_eq!(
        ps.bind(&[Value::Bytes(b"haoka".to_vec())], &Segs).unwrap(),
        Routed::Metadata(Metadata::AnyShard {
            sql: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'haoka'"
                .into()
        }),
        "a prepared catalog query runs with its parameters inlined"
    );
    assert_eq!(
        hk("SHOW HAOKA SHARDS").unwrap(),
        Routed::Haoka(HaokaShow::Shards)
    );
    assert_eq!(
        hk("show haoka rules").unwrap(),
        Routed::Haoka(HaokaShow::Rules)
    );
    assert_eq!(
        hk("SHOW HAOKA STATUS").unwrap(),
        Routed::Haoka(HaokaShow::Status)
    );
    for sql in [
        "SELECT 1",
        "SELECT @@version_comment LIMIT 1",
        "SELECT DATABASE()",
        "SELECT LAST_INSERT_ID()",
    ] {
        assert!(matches!(hk(sql).unwrap(), Routed::NoTable { .. }), "{sql}");
    }
    assert_eq!(
        hk("SELECT @@version_comment LIMIT 1").unwrap(),
        Routed::NoTable {
            sql: "SELECT @@version_comment LIMIT 1".into()
        }
    );
    assert!(matches!(hk("KILL 5").unwrap(), Routed::PassThrough { .. }));
    assert!(matches!(
        hk("FLUSH TABLES").unwrap(),
        Routed::PassThrough { .. }
    ));
    let e = hk("FROBNICATE the table").unwrap_err();
    assert_eq!(e.code(), 1064, "{e}");
    assert!(hk("CREATE PROCEDURE p() BEGIN END").is_err());
    assert!(hk("SELECT 1; SELECT 2").is_err());
}

#[test]
fn explain_shows_the_inner_plan() {
    let rules = rules();
    let r = Router::new(rules.clone());
    let routed = r
        .plan_text(
            "sbtest",
            "EXPLAIN SELECT c FROM sbtest1 WHERE id BETWEEN 950 AND 1049 ORDER BY c LIMIT 3",
            &Segs,
        )
        .unwrap();
    let Routed::Explain(inner) = &routed else {
        panic!("{routed:?}")
    };
    assert_eq!(inner.kind(), StmtKind::Select);
    let rows = explain(&routed, rules.schema("sbtest").unwrap());
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].shard, "0");
    assert_eq!(rows[0].database, "sbtest_s0");
    assert_eq!(
        rows[0].physical_sql,
        "SELECT c FROM `sbtest1` WHERE id BETWEEN 950 AND 1049 ORDER BY c LIMIT 3"
    );
    assert_eq!(rows[2].shard, "merge");
    assert!(
        rows[2].physical_sql.contains("order_by=[#0]"),
        "{}",
        rows[2].physical_sql
    );
    assert!(
        rows[2].physical_sql.contains("limit=3"),
        "{}",
        rows[2].physical_sql
    );
}

#[test]
fn no_panics_on_odd_input() {
    let r = router();
    for sql in [
        "",
        " ",
        ";",
        "'",
        "\"",
        "`",
        "/*",
        "--",
        "SELECT",
        "SELECT '",
        "SELECT * FROM",
        "INSERT INTO sbtest1",
        "INSERT INTO sbtest1 (id) VALUES (1, 2)",
        "SELECT c FROM sbtest1 WHERE id = 99999999999999999999999999999999999999999",
        "SELECT c FROM sbtest1 WHERE id = 'abc'",
        "SELECT c FROM sbtest1 WHERE id BETWEEN 'a' AND 'b'",
        "SELECT c FROM sbtest1 LIMIT -1",
        "SELECT c FROM sbtest1 ORDER BY 9",
        "UPDATE sbtest1 SET k = 1 ORDER BY id LIMIT 1",
        "\u{1F600}",
        "SELECT '\u{4E2D}' FROM sbtest1 WHERE id = 1",
        "SELECT c FROM sbtest1 WHERE id IN ()",
        "DELETE FROM sbtest1",
        "SELECT c FROM sbtest1 s1, sbtest2 s2",
        "SHOW",
        "SHOW COLUMNS FROM",
        "DESC",
        "SELECT * FROM phone_number WHERE phone_no = '1'",
        "SELECT ?",
        "INSERT INTO sbtest1 SET k = 1, c = 'x', pad = 'y'",
    ] {
        let _ = r.plan_text("sbtest", sql, &Segs);
        let _ = r.plan_text("haoka", sql, &Segs);
        let _ = r
            .prepare("sbtest", sql)
            .map(|p| p.bind(&[Value::NULL, Value::NULL], &Segs));
    }
    // a non-integer key for range_mod matches no row: scatter, not an error
    assert!(sb("SELECT c FROM sbtest1 WHERE id = 'abc'").is_ok());
    let e = sb("UPDATE sbtest1 SET k = 1 ORDER BY id LIMIT 1").unwrap_err();
    assert_eq!(e.code(), 1235);
    let p = plan(sb(
        "INSERT INTO sbtest1 SET id = 5, k = 1, c = 'x', pad = 'y'",
    ));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(0),
            "INSERT INTO `sbtest1` (id, k, c, pad) VALUES (5, 1, 'x', 'y')"
        )]
    );
}

#[test]
fn correlated_subqueries_and_broadcast_writes() {
    // correlated on the shard key: goes wherever the outer rows go
    let p = plan(hk("SELECT c.card_id FROM sim_card c WHERE EXISTS (SELECT 1 FROM card_history h WHERE h.province_code = c.province_code AND h.card_id = c.card_id) AND c.status = '01'"));
    assert_eq!(p.targets.len(), 8);
    let p = plan(hk("SELECT c.card_id FROM sim_card c WHERE c.province_code = '51' AND NOT EXISTS (SELECT 1 FROM card_history h WHERE h.province_code = c.province_code)"));
    assert_eq!(places(&p), vec![Place::Data(5)]);
    // under OR the equality does not co-locate
    let e = hk("SELECT c.card_id FROM sim_card c WHERE EXISTS (SELECT 1 FROM card_history h WHERE h.province_code = c.province_code OR h.card_id = 5)").unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
    let e = hk("SELECT * FROM sim_card c JOIN card_history h ON c.province_code = h.province_code OR c.card_id = h.card_id").unwrap_err();
    assert!(matches!(e, RouteError::CrossShardJoin(_)), "{e}");
    // writing a broadcast table from a statement placed elsewhere
    let e = hk("UPDATE phone_number n JOIN segment s ON n.segment = s.segment SET s.city_code = '1' WHERE n.phone_no = '13012345678'").unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
    let e = hk("UPDATE phone_number n JOIN segment s ON n.segment = s.segment SET city_code = '1' WHERE n.phone_no = '13012345678'").unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
    let p = plan(hk("UPDATE phone_number n JOIN segment s ON n.segment = s.segment SET n.city_code = s.city_code WHERE n.phone_no = '13012345678'"));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(5), "UPDATE `phone_number_2` n JOIN `segment` s ON n.segment = s.segment SET n.city_code = s.city_code WHERE n.phone_no = '13012345678'")]
    );
    let e = hk("INSERT INTO province (province_code, name, short_name, capital_city_code) SELECT '99', name, name, '990' FROM staff").unwrap_err();
    assert_eq!(e.code(), 1235, "{e}");
    let p = plan(hk("INSERT INTO city (city_code, province_code, name) SELECT capital_city_code, province_code, name FROM province"));
    assert!(p.broadcast);
    assert_eq!(p.targets.len(), 9);
    // multi-table DELETE keeps aliases
    let p = plan(hk("DELETE n FROM phone_number n JOIN segment s ON n.segment = s.segment WHERE n.phone_no = '13012345678'"));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(5), "DELETE n FROM `phone_number_2` n JOIN `segment` s ON n.segment = s.segment WHERE n.phone_no = '13012345678'")]
    );
    let p = plan(sb(
        "DELETE sbtest1 FROM sbtest1 JOIN sbtest2 ON sbtest1.id = sbtest2.id WHERE sbtest1.id = 5",
    ));
    assert_eq!(
        targets(&p),
        vec![(Place::Data(0), "DELETE `sbtest1` FROM `sbtest1` JOIN `sbtest2` ON sbtest1.id = sbtest2.id WHERE sbtest1.id = 5")]
    );
}

#[test]
fn system_schema_detection() {
    assert!(build::mentions_info_schema(
        "SELECT * FROM information_schema.tables"
    ));
    assert!(build::mentions_info_schema(
        "SELECT * FROM `INFORMATION_SCHEMA`.`TABLES`"
    ));
    assert!(build::mentions_info_schema("select user from mysql.user"));
    assert!(!build::mentions_info_schema(
        "SELECT analysys.c FROM sbtest1 analysys"
    ));
    assert!(!build::mentions_info_schema(
        "SELECT c FROM sbtest1 WHERE id = 1"
    ));
    assert!(!build::mentions_info_schema("SELECT t.c FROM mysqlx t"));
}

#[test]
fn normaliser_edge_cases() {
    let n = normalize(
        "SELECT * FROM t WHERE a = 'it\\'s' AND b = \"q\"\"q\" AND c IN (1, -2, 3.5) -- tail",
    )
    .unwrap();
    assert_eq!(
        n.fingerprint,
        "SELECT * FROM t WHERE a = ?1 AND b = ?2 AND c IN (?3, ?4, ?5)"
    );
    let vals: Vec<LitValue> = n.literals.iter().map(|l| l.value.clone()).collect();
    assert_eq!(
        vals,
        vec![
            LitValue::Str("it's".into()),
            LitValue::Str("q\"q".into()),
            LitValue::Int(1),
            LitValue::Int(-2),
            LitValue::Num("3.5".into())
        ]
    );
    let a = normalize("select c from sbtest1 where id = 1").unwrap();
    let b = normalize("select  c\n from sbtest1 /* x */ where id = 99").unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    let h = normalize("/*+ HAOKA shard=2 */ select c from sbtest1 where id = 1").unwrap();
    assert_eq!(h.hint, Some(Hint::Shard(2)));
    assert_eq!(h.fingerprint, a.fingerprint);
    // a literal that cannot be a placeholder still plans (uncached fallback)
    let p = plan(sb(
        "SELECT CAST(k AS DECIMAL(10,2)) FROM sbtest1 WHERE id = 1",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT CAST(k AS DECIMAL(10,2)) FROM `sbtest1` WHERE id = 1"
    );
}

#[test]
fn global_index_lookup_and_maintenance() {
    let iccid = "89860100000000000001";
    let ishard = crate::rules::crc32(iccid.as_bytes()) as usize % 8;
    let r = router();
    let routed = r
        .plan_text(
            "haoka",
            &format!("SELECT card_id, status FROM sim_card WHERE iccid = '{iccid}'"),
            &Segs,
        )
        .unwrap();
    let Routed::NeedLookup(pl) = routed else {
        panic!("{routed:?}")
    };
    assert_eq!(pl.index, "card_iccid");
    assert_eq!(pl.key_column, "province_code");
    assert_eq!(pl.lookups.len(), 1);
    assert_eq!(pl.lookups[0].place, Place::Data(ishard));
    assert_eq!(
        pl.lookups[0].sql,
        format!(
            "SELECT DISTINCT `province_code` FROM `card_iccid_index` WHERE `iccid` IN ('{iccid}')"
        )
    );
    let p = plan(pl.bind_keys(&["51".to_string()], &Segs));
    assert_eq!(
        targets(&p),
        vec![(
            Place::Data(5),
            format!("SELECT card_id, status FROM `sim_card` WHERE iccid = '{iccid}'").as_str()
        )]
    );
    // no index entry: one shard answers (no rows)
    assert_eq!(plan(pl.bind_keys(&[], &Segs)).targets.len(), 1);
    // the shard key given too: no lookup
    let p = plan(hk(&format!(
        "SELECT * FROM sim_card WHERE iccid = '{iccid}' AND province_code = '11'"
    )));
    assert_eq!(places(&p), vec![Place::Data(0)]);
    // prepared UPDATE by ICCID
    let ps = r
        .prepare("haoka", "UPDATE sim_card SET status = ? WHERE iccid = ?")
        .unwrap();
    let routed = ps
        .bind(
            &[
                Value::Bytes(b"02".to_vec()),
                Value::Bytes(iccid.as_bytes().to_vec()),
            ],
            &Segs,
        )
        .unwrap();
    let Routed::NeedLookup(pl) = routed else {
        panic!("{routed:?}")
    };
    let p = plan(pl.bind_keys(&["31".to_string()], &Segs));
    assert_eq!(places(&p), vec![Place::Data(2)]);
    assert_eq!(
        p.targets[0].prepared.as_ref().unwrap().sql,
        "UPDATE `sim_card` SET status = ? WHERE iccid = ?"
    );
    // the indexed column changes only in a single-table UPDATE (the
    // executor keeps the index); not through a join
    let p = plan(hk("UPDATE sim_card SET iccid = '1' WHERE card_id = 5"));
    assert_eq!(p.targets.len(), 8);
    let e = hk("UPDATE sim_card c JOIN card_history h ON h.card_id = c.card_id AND h.province_code = c.province_code SET c.iccid = '1' WHERE c.province_code = '11'").unwrap_err();
    assert!(matches!(e, RouteError::IndexedColumnUpdate { .. }), "{e}");
    // INSERT writes the index row in the same plan
    let routed = hk(&format!(
        "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) VALUES ('{iccid}', '51', '510', 7, 'M')"
    ))
    .unwrap();
    let Routed::NeedIds(pending) = routed else {
        panic!("{routed:?}")
    };
    let p = plan(pending.bind_ids(&[42], &Segs));
    assert_eq!(
        targets(&p),
        vec![
            (Place::Data(5), format!("INSERT INTO `sim_card` (iccid, province_code, city_code, depot_id, card_type, card_id) VALUES ('{iccid}', '51', '510', 7, 'M', 42)").as_str()),
            (Place::Data(ishard), format!("INSERT INTO `card_iccid_index` (iccid, province_code, card_id) VALUES ('{iccid}', '51', 42) ON DUPLICATE KEY UPDATE `province_code` = IF(`card_id` <=> VALUES(`card_id`), VALUES(`province_code`), `province_code`)").as_str()),
        ]
    );
    assert!(p.index_move, "a single-row INSERT may move its index row");
    // several rows: a plain index insert (every key must be new)
    let routed = hk(&format!(
        "INSERT INTO sim_card (card_id, iccid, province_code, city_code, depot_id, card_type) VALUES (1, '{iccid}', '51', '510', 7, 'M'), (2, '{iccid}1', '51', '510', 7, 'M')"
    ))
    .unwrap();
    let Routed::Shards(p) = routed else {
        panic!("{routed:?}")
    };
    assert!(!p.index_move);
    assert!(p
        .targets
        .iter()
        .all(|t| !t.sql.contains("ON DUPLICATE KEY")));
    let rows = explain(
        &Routed::NeedLookup(
            match r
                .plan_text(
                    "haoka",
                    &format!("SELECT * FROM sim_card WHERE iccid = '{iccid}'"),
                    &Segs,
                )
                .unwrap()
            {
                Routed::NeedLookup(p) => p,
                other => panic!("{other:?}"),
            },
        ),
        rules().schema("haoka").unwrap(),
    );
    assert_eq!(rows.last().unwrap().shard, "lookup");
}

#[test]
fn router_types_are_shareable_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Router>();
    send_sync::<PreparedPlan>();
    send_sync::<Routed>();
    send_sync::<PendingInsert>();
    send_sync::<PendingLookup>();
}

#[test]
fn truncated_and_spliced_statements_never_panic() {
    let r = router();
    let seeds = [
        "SELECT c, COUNT(*) AS n FROM sbtest1 t WHERE t.id BETWEEN 5 AND 1500 AND k IN (1, -2, 'x''y') GROUP BY c HAVING n > 1 ORDER BY 2 DESC LIMIT 3, 4",
        "/*+ HAOKA shard=1 */ UPDATE phone_number SET status = '04' WHERE phone_no = '13012345678' -- c",
        "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) VALUES ('898601', '51', '510', 7, 'M') ON DUPLICATE KEY UPDATE status = VALUES(status)",
        "SELECT * FROM sim_card c WHERE EXISTS (SELECT 1 FROM card_history h WHERE h.province_code = c.province_code) AND c.iccid = `x` # y",
        "SHOW FULL COLUMNS FROM `phone_number` FROM haoka LIKE 'p%'",
        "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'",
        "INSERT INTO dual (a) SELECT 1",
        "WITH x AS (SELECT 1) INSERT INTO x SELECT * FROM x",
        "SELECT AVG(k), '\u{4E2D}\u{6587}' FROM sbtest1 WHERE id = ? OR id = ?",
    ];
    let params = [Value::Int(1), Value::Bytes(b"x".to_vec()), Value::NULL];
    for seed in seeds {
        let cuts: Vec<usize> = seed
            .char_indices()
            .map(|(i, _)| i)
            .chain([seed.len()])
            .collect();
        for &i in &cuts {
            let (a, b) = seed.split_at(i);
            for sql in [a.to_string(), b.to_string(), format!("{b}{a}")] {
                let _ = r.plan_text("haoka", &sql, &Segs);
                let _ = r.plan_text("sbtest", &sql, &Segs);
                if let Ok(ps) = r.prepare("sbtest", &sql) {
                    let n = ps.params().min(params.len());
                    let _ = ps.bind(&params[..n], &Segs);
                }
            }
        }
    }
}

/// Whether the shard statements carry a LIMIT.
fn limit_pushed(sql: &str) -> bool {
    plan(sb(sql)).targets[0].sql.contains(" LIMIT ")
}

#[test]
fn limit_goes_to_the_shards_only_when_their_first_rows_suffice() {
    // issue 13: the ORDER BY covers part of the GROUP BY: a shard's first
    // groups by `a` may be a part of a group another shard cut off
    assert!(!limit_pushed(
        "SELECT k%3 a, k%5 b, COUNT(*) n FROM sbtest1 GROUP BY b, a ORDER BY a LIMIT 3"
    ));
    // ... the whole GROUP BY, in any order and direction: the groups' order is total
    assert!(limit_pushed(
        "SELECT k%3 a, k%5 b, COUNT(*) n FROM sbtest1 GROUP BY b, a ORDER BY a, b DESC LIMIT 3"
    ));
    assert!(limit_pushed(
        "SELECT k%3 a, k%5 b, COUNT(*) n FROM sbtest1 GROUP BY b, a ORDER BY b, a, n LIMIT 3"
    ));
    // an aggregate before the group keys
    assert!(!limit_pushed(
        "SELECT k, COUNT(*) n FROM sbtest1 GROUP BY k ORDER BY n DESC, k LIMIT 3"
    ));
    // each group on one shard (the shard key is grouped): any order
    assert!(limit_pushed(
        "SELECT id, COUNT(*) n FROM sbtest1 GROUP BY id ORDER BY n DESC LIMIT 3"
    ));
    assert!(limit_pushed(
        "SELECT k, id, SUM(k) FROM sbtest1 GROUP BY k, sbtest1.id ORDER BY 3 LIMIT 3"
    ));
    // no ORDER BY: the shards sort by the group keys
    assert!(limit_pushed(
        "SELECT k, COUNT(*) FROM sbtest1 GROUP BY k LIMIT 3, 2"
    ));
    // HAVING and DISTINCT drop groups the shards would have counted
    assert!(!limit_pushed(
        "SELECT k, COUNT(*) FROM sbtest1 GROUP BY k HAVING COUNT(*) > 1 ORDER BY k LIMIT 3"
    ));
    assert!(!limit_pushed(
        "SELECT DISTINCT COUNT(*) FROM sbtest1 GROUP BY k ORDER BY 1 LIMIT 3"
    ));
    // plain rows, DISTINCT rows, one aggregate row: always
    assert!(limit_pushed("SELECT c FROM sbtest1 ORDER BY k LIMIT 3"));
    assert!(limit_pushed(
        "SELECT DISTINCT c FROM sbtest1 ORDER BY c LIMIT 3"
    ));
    assert!(limit_pushed("SELECT COUNT(*) FROM sbtest1 LIMIT 1"));
}

#[test]
fn avg_parts_are_merged_aggregates_for_having() {
    // issue 13: HAVING SUM(k) next to AVG(k) binds to AVG's hidden SUM(k),
    // which must be merged (summed), not one shard's value
    let p = plan(sb(
        "SELECT g, AVG(k) FROM sbtest1 GROUP BY g HAVING SUM(k) > 20000 AND COUNT(k) > 2",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT g, AVG(k), SUM(k), COUNT(k) FROM `sbtest1` GROUP BY g ORDER BY 1"
    );
    let s = spec(&p);
    assert!(s.aggregates.contains(&Aggregate {
        column: 2,
        func: AggFunc::Sum
    }));
    assert!(s.aggregates.contains(&Aggregate {
        column: 3,
        func: AggFunc::Count
    }));
    let Some(Expr::Binary { left, .. }) = &s.having else {
        panic!("{:?}", s.having)
    };
    let Expr::Binary { left: sum, .. } = left.as_ref() else {
        panic!("{left:?}")
    };
    assert_eq!(**sum, Expr::Column(2));
}

#[test]
fn divided_sums_carry_full_precision() {
    let p = plan(sb("SELECT SUM(k/7), AVG(k/7), SUM(k), AVG(c) FROM sbtest1"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT SUM(k / 7) AS `SUM(k/7)`, AVG(k / 7) AS `AVG(k/7)`, SUM(k), AVG(c), \
         CAST(SUM(k / 7) AS DECIMAL(65,30)), SUM(k / 7), COUNT(k / 7), \
         CAST(SUM(k / 7) AS DECIMAL(65,30)), SUM(c), COUNT(c) FROM `sbtest1`"
    );
    let s = spec(&p);
    assert_eq!(s.visible, 4);
    assert!(s.aggregates.contains(&Aggregate {
        column: 0,
        func: AggFunc::ExactSum { exact: 4 }
    }));
    assert!(s.aggregates.contains(&Aggregate {
        column: 1,
        func: AggFunc::Avg {
            sum: 5,
            count: 6,
            exact: Some(7)
        }
    }));
    assert!(s.aggregates.contains(&Aggregate {
        column: 2,
        func: AggFunc::Sum
    }));
    assert!(s.aggregates.contains(&Aggregate {
        column: 3,
        func: AggFunc::Avg {
            sum: 8,
            count: 9,
            exact: None
        }
    }));
}

#[test]
fn group_by_takes_a_column_before_an_alias() {
    // issue 13: `created_at` is a column (DATE(created_at) uses it), so
    // GROUP BY groups by it, as MariaDB does, not by the alias
    let p = plan(sb(
        "SELECT DATE(pad) AS pad, COUNT(*) FROM sbtest1 GROUP BY pad",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT DATE(pad) AS pad, COUNT(*), pad FROM `sbtest1` GROUP BY pad ORDER BY 3"
    );
    assert_eq!(spec(&p).group_by, vec![2]);
    // a name no column of the statement has is the alias
    let p = plan(sb("SELECT k%3 AS m, COUNT(*) FROM sbtest1 GROUP BY m"));
    assert_eq!(spec(&p).group_by, vec![0]);
    // ORDER BY looks aliases up first
    let p = plan(sb(
        "SELECT DATE(pad) AS pad, COUNT(*) FROM sbtest1 GROUP BY pad ORDER BY pad LIMIT 3",
    ));
    let s = spec(&p);
    assert_eq!((s.group_by.clone(), s.order_by[0].column), (vec![2], 0));
    // GROUP BY x COLLATE ...: its own (hidden) key with that collation
    let p = plan(sb(
        "SELECT c, COUNT(*) FROM sbtest1 GROUP BY c COLLATE utf8mb4_bin",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT c, COUNT(*), c COLLATE utf8mb4_bin FROM `sbtest1` GROUP BY c COLLATE utf8mb4_bin ORDER BY 3"
    );
}

#[test]
fn unaliased_items_keep_the_clients_text() {
    // issue 13: MariaDB names the column by the client's text
    let p = plan(sb("SELECT AVG(k/7), k+1, c FROM sbtest1 WHERE id = 5"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT AVG(k / 7) AS `AVG(k/7)`, k + 1 AS `k+1`, c FROM `sbtest1` WHERE id = 5"
    );
    // the same plan (cached) with other literals names them by those
    let p = plan(sb("SELECT AVG(k/70), k+12, c FROM sbtest1 WHERE id = 6"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT AVG(k / 70) AS `AVG(k/70)`, k + 12 AS `k+12`, c FROM `sbtest1` WHERE id = 6"
    );
    // text the rendering keeps needs no alias; backticks are doubled
    let p = plan(sb(
        "SELECT k + 1, CONCAT(c, 'a`b'), `k`*2 FROM sbtest1 WHERE id = 5",
    ));
    assert_eq!(
        p.targets[0].sql,
        "SELECT k + 1, CONCAT(c, 'a`b'), `k` * 2 AS ```k``*2` FROM `sbtest1` WHERE id = 5"
    );
    // a prepared statement's parameter is `?` in the name
    let ps = router()
        .prepare("sbtest", "SELECT k+? FROM sbtest1 WHERE id = ?")
        .unwrap();
    let Routed::Shards(p) = ps.bind(&[Value::Int(3), Value::Int(5)], &Segs).unwrap() else {
        panic!()
    };
    assert_eq!(
        p.targets[0].sql,
        "SELECT k + 3 AS `k+?` FROM `sbtest1` WHERE id = 5"
    );
    assert_eq!(
        p.targets[0].prepared.as_ref().unwrap().sql,
        "SELECT k + ? AS `k+?` FROM `sbtest1` WHERE id = ?"
    );
    // merged: the shards name the visible columns
    let p = plan(sb("SELECT k%3, COUNT(*) FROM sbtest1 GROUP BY 1"));
    assert_eq!(
        p.targets[0].sql,
        "SELECT k % 3 AS `k%3`, COUNT(*) FROM `sbtest1` GROUP BY 1 ORDER BY 1"
    );
}

/// Online resharding: between a move's switch and COMPLETE the old shard
/// still holds the province's rows (and before the switch the target holds
/// copies). Statements reaching such a shard exclude them for each
/// province-sharded table, on that shard's targets only; with no move under
/// way the physical SQL is what it always was (the plans are the same,
/// cached or not: the exclusion is decided when a plan is bound).
#[test]
fn rows_of_a_moved_province_are_excluded_on_the_shards_it_is_not_routed_to() {
    let r = router();
    let statements = [
        "SELECT COUNT(*) FROM sim_card",
        "SELECT province_code, COUNT(*) FROM sim_card s WHERE status = '1' OR status = '2' GROUP BY province_code ORDER BY province_code LIMIT 5",
        "SELECT COUNT(*) FROM sim_card c JOIN card_history h ON h.province_code = c.province_code AND h.iccid = c.iccid WHERE h.event = 'x'",
        "UPDATE sim_card SET status = '2' WHERE status = '1' OR status = '3'",
        "DELETE FROM outbox",
        "SELECT COUNT(*) FROM phone_number WHERE status = '03'",
        "DELETE FROM phone_number WHERE status = '09'",
        "SELECT COUNT(*) FROM sim_card WHERE province_code = '36'",
        "SELECT c FROM sbtest1 WHERE k > 3",
    ];
    let run = |sql: &str| -> Vec<(Place, String)> {
        let schema = if sql.contains("sbtest") {
            "sbtest"
        } else {
            "haoka"
        };
        match r.plan_text(schema, sql, &Segs).unwrap() {
            Routed::Shards(p) => p.targets.into_iter().map(|t| (t.place, t.sql)).collect(),
            other => panic!("{sql}: {other:?}"),
        }
    };
    let normal: Vec<_> = statements.iter().map(|s| run(s)).collect();
    let prepared = r
        .prepare("haoka", "SELECT COUNT(*) FROM sim_card WHERE status = ?")
        .unwrap();
    let bind = || match prepared
        .bind(&[Value::Bytes(b"1".to_vec())], &Segs)
        .unwrap()
    {
        Routed::Shards(p) => p
            .targets
            .into_iter()
            .map(|t| (t.place, t.prepared.unwrap()))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let normal_prepared = bind();
    // the plan of a cached statement stays cached and is bound anew
    let cached = r.cached_plans();

    let map = r.rules().schemas[0].provinces.clone();
    assert_eq!(map.current("36"), Some(2));
    map.set_copies([("36".to_string(), [2, 6].into())].into());
    map.assign("36", 6); // the switch
    let moved: Vec<_> = statements.iter().map(|s| run(s)).collect();
    let on = |v: &[(Place, String)], shard: usize| -> Vec<String> {
        v.iter()
            .filter(|(p, _)| *p == Place::Data(shard))
            .map(|(_, s)| s.clone())
            .collect()
    };
    let x =
        |q: &str| format!("(`{q}`.`province_code` IS NULL OR `{q}`.`province_code` NOT IN ('36'))");
    assert_eq!(
        on(&moved[0], 2),
        [format!(
            "SELECT COUNT(*) FROM `sim_card` WHERE {}",
            x("sim_card")
        )]
    );
    assert_eq!(
        on(&moved[1], 2),
        [format!(
            "SELECT province_code, COUNT(*) FROM `sim_card` s WHERE (status = '1' OR status = '2') AND {} GROUP BY province_code ORDER BY province_code LIMIT 5",
            x("s")
        )]
    );
    assert_eq!(
        on(&moved[2], 2),
        [format!(
            "SELECT COUNT(*) FROM `sim_card` c JOIN `card_history` h ON h.province_code = c.province_code AND h.iccid = c.iccid WHERE (h.event = 'x') AND {} AND {}",
            x("c"),
            x("h")
        )]
    );
    assert_eq!(
        on(&moved[3], 2),
        [format!(
            "UPDATE `sim_card` SET status = '2' WHERE (status = '1' OR status = '3') AND {}",
            x("sim_card")
        )]
    );
    assert_eq!(
        on(&moved[4], 2),
        [format!("DELETE FROM `outbox` WHERE {}", x("outbox"))]
    );
    let split = on(&moved[5], 2);
    assert_eq!(split.len(), 4);
    assert!(
        split.iter().enumerate().all(|(k, s)| *s
            == format!(
            "SELECT COUNT(*) FROM `phone_number_{k}` AS phone_number WHERE (status = '03') AND {}",
            x("phone_number")
        )),
        "{split:?}"
    );
    let split = on(&moved[6], 2);
    assert!(
        split.iter().enumerate().all(|(k, s)| *s
            == format!(
                "DELETE FROM `phone_number_{k}` WHERE (status = '09') AND {}",
                x(&format!("phone_number_{k}"))
            )),
        "{split:?}"
    );
    // the province itself goes to its new shard, which holds no stale rows
    assert_eq!(
        moved[7],
        normal[7]
            .iter()
            .map(|(_, s)| (Place::Data(6), s.clone()))
            .collect::<Vec<_>>()
    );
    // every other shard, and tables not sharded by province, are untouched
    for (i, (m, n)) in moved.iter().zip(&normal).enumerate() {
        let others = |v: &[(Place, String)]| {
            v.iter()
                .filter(|(p, _)| *p != Place::Data(2) && i != 7)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(others(m), others(n), "{}", statements[i]);
    }
    assert_eq!(moved[8], normal[8]);
    // the binary protocol: the exclusion is text, the parameters stay
    let b = bind();
    let (_, stale) = b.iter().find(|(p, _)| *p == Place::Data(2)).unwrap();
    assert_eq!(
        stale.sql,
        format!(
            "SELECT COUNT(*) FROM `sim_card` WHERE (status = ?) AND {}",
            x("sim_card")
        )
    );
    assert_eq!(stale.params, [ParamSource::Client(0)]);
    assert_eq!(r.cached_plans(), cached);

    // before a switch the target's copies are the ones excluded
    map.assign("36", 2);
    let copying = run(statements[0]);
    assert_eq!(on(&copying, 2), on(&normal[0], 2));
    assert_eq!(
        on(&copying, 6),
        [format!(
            "SELECT COUNT(*) FROM `sim_card` WHERE {}",
            x("sim_card")
        )]
    );

    // during the switch a write that may reach the province's rows is held
    // (planned again after it); reads are not
    map.freeze("36");
    for w in [statements[3], statements[4], statements[6]] {
        assert!(
            matches!(r.plan_text("haoka", w, &Segs), Err(RouteError::ProvinceMoving(p)) if p == "36"),
            "{w}"
        );
    }
    assert_eq!(run(statements[0]), copying);
    map.thaw("36");

    // COMPLETE (or CANCEL): nothing is excluded, byte for byte as before
    map.assign("36", 6);
    map.set_copies(Default::default());
    let done: Vec<_> = statements.iter().map(|s| run(s)).collect();
    for (i, (d, n)) in done.iter().zip(&normal).enumerate() {
        if i == 7 {
            continue; // the province is on its new shard now
        }
        assert_eq!(d, n, "{}", statements[i]);
    }
    assert_eq!(bind(), normal_prepared);
}

#[test]
fn exclusion_marks_split_into_pieces_that_render_as_nothing_by_default() {
    let t = lexer::Template::from_rendered(
        "SELECT a FROM __hk_t0 WHERE __hk_xw(a = ?1 OR (b = ')' AND c IN (1, 2))) ORDER BY a",
    );
    use lexer::Piece;
    assert_eq!(
        t.0,
        vec![
            Piece::Text("SELECT a FROM ".into()),
            Piece::Table(0),
            Piece::Text(" WHERE ".into()),
            Piece::ExcludeOpen,
            Piece::Text("a = ".into()),
            Piece::Param(0),
            Piece::Text(" OR (b = ')' AND c IN (1, 2))".into()),
            Piece::ExcludeClose,
            Piece::Text(" ORDER BY a".into()),
        ]
    );
    let t = lexer::Template::from_rendered("DELETE FROM __hk_t0 WHERE __hk_xn LIMIT 3");
    assert_eq!(
        t.0,
        vec![
            Piece::Text("DELETE FROM ".into()),
            Piece::Table(0),
            Piece::ExcludeWhere,
            Piece::Text(" LIMIT 3".into()),
        ]
    );
}
