//! Engine tests on in-memory shard streams.

use std::sync::atomic::Ordering as AtOrd;

use mysql_common::constants::ColumnType;
use mysql_common::value::Value;

use super::*;

fn b(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}
fn n() -> Value {
    Value::NULL
}
/// Parse a compact row: "1|abc|NULL".
fn r(s: &str) -> Vec<Value> {
    s.split('|')
        .map(|x| if x == "NULL" { n() } else { b(x) })
        .collect()
}
fn shards(rows: &[&[&str]]) -> Vec<Box<dyn RowStream + Send>> {
    rows.iter()
        .map(|s| {
            Box::new(VecStream::new(s.iter().map(|x| r(x)).collect())) as Box<dyn RowStream + Send>
        })
        .collect()
}
fn text(rows: &[Vec<Value>]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    Value::NULL => "NULL".into(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}
fn int(name: &str) -> ColumnMeta {
    ColumnMeta::new(name, ColumnType::MYSQL_TYPE_LONG)
}
fn bigint(name: &str) -> ColumnMeta {
    ColumnMeta::new(name, ColumnType::MYSQL_TYPE_LONGLONG)
}
fn dec(name: &str, scale: u8) -> ColumnMeta {
    ColumnMeta::new(name, ColumnType::MYSQL_TYPE_NEWDECIMAL).with_decimals(scale)
}
fn dbl(name: &str) -> ColumnMeta {
    ColumnMeta::new(name, ColumnType::MYSQL_TYPE_DOUBLE)
}
fn s(name: &str) -> ColumnMeta {
    ColumnMeta::new(name, ColumnType::MYSQL_TYPE_VAR_STRING)
}
fn asc(column: usize) -> SortKey {
    SortKey {
        column,
        descending: false,
    }
}
fn desc(column: usize) -> SortKey {
    SortKey {
        column,
        descending: true,
    }
}
fn agg(column: usize, func: AggFunc) -> Aggregate {
    Aggregate { column, func }
}

/// One visible column: AVG with its parts at `sum`, `count` (and `exact`).
fn avg_spec(sum: usize, count: usize, exact: Option<usize>) -> MergeSpec {
    MergeSpec {
        visible: 1,
        aggregates: vec![agg(0, AggFunc::Avg { sum, count, exact })],
        ..Default::default()
    }
}

fn run(spec: MergeSpec, cols: Vec<ColumnMeta>, data: &[&[&str]]) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (_, mut m) = merge(spec, cols, shards(data)).unwrap();
        text(&m.collect().await.unwrap())
    })
}

#[test]
fn merged_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (_, mut m) = merge(MergeSpec::default(), vec![], vec![]).unwrap();
    assert_send(&m);
    let fut = m.next_row();
    assert_send(&fut);
}

#[test]
fn concat_with_offset_limit_and_cancel() {
    let cols = vec![int("a")];
    let spec = MergeSpec {
        visible: 1,
        ..Default::default()
    };
    let all = run(
        spec.clone(),
        cols.clone(),
        &[&["1", "2"], &[], &["3"], &["4", "5"]],
    );
    assert_eq!(all, ["1", "2", "3", "4", "5"]);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let streams: Vec<VecStream> = vec![
            VecStream::new(vec![r("1"), r("2")]),
            VecStream::new(vec![r("3")]),
            VecStream::new(vec![r("4")]),
        ];
        let flags: Vec<_> = streams.iter().map(|s| s.cancelled.clone()).collect();
        let inputs = streams
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn RowStream + Send>)
            .collect();
        let spec = MergeSpec {
            visible: 1,
            offset: 1,
            limit: Some(2),
            ..Default::default()
        };
        let (_, mut m) = merge(spec, cols.clone(), inputs).unwrap();
        assert_eq!(text(&m.collect().await.unwrap()), ["2", "3"]);
        assert!(m.stopped_early());
        // shard 0 was exhausted, shard 1 was in use, shard 2 never read
        assert!(!flags[0].load(AtOrd::SeqCst));
        assert!(flags[1].load(AtOrd::SeqCst));
        assert!(flags[2].load(AtOrd::SeqCst));
    });

    // offset beyond the end
    let spec = MergeSpec {
        visible: 1,
        offset: 10,
        limit: Some(5),
        ..Default::default()
    };
    assert!(run(spec, cols.clone(), &[&["1", "2"], &["3"]]).is_empty());
    // limit 0
    let spec = MergeSpec {
        visible: 1,
        limit: Some(0),
        ..Default::default()
    };
    assert!(run(spec, cols, &[&["1"]]).is_empty());
}

#[test]
fn order_by_mixed_directions_nulls_and_types() {
    // a INT ASC, name VARCHAR(general_ci) DESC, d DECIMAL ASC
    let cols = vec![int("a"), s("name"), dec("d", 2)];
    let spec = MergeSpec {
        visible: 3,
        order_by: vec![asc(0), desc(1), asc(2)],
        ..Default::default()
    };
    let out = run(
        spec,
        cols,
        &[
            &["NULL|x|1.00", "-10|b|2.00", "2|B|-1.50", "2|a|0.00"],
            &["NULL|NULL|0.00", "-9|z|0.00", "2|B |-2.00", "10|a|1.00"],
            &[],
            &["-10|c|0.00", "2|NULL|5.00"],
        ],
    );
    assert_eq!(
        out,
        [
            "NULL|x|1.00",
            "NULL|NULL|0.00",
            "-10|c|0.00",
            "-10|b|2.00",
            "-9|z|0.00",
            "2|B |-2.00",
            "2|B|-1.50",
            "2|a|0.00",
            "2|NULL|5.00",
            "10|a|1.00",
        ]
    );
}

#[test]
fn order_by_desc_with_limit_offset_across_shards() {
    let cols = vec![dec("d", 3), int("id")];
    let spec = MergeSpec {
        visible: 1, // id is a hidden tiebreaker column
        order_by: vec![desc(0), asc(1)],
        offset: 2,
        limit: Some(3),
        ..Default::default()
    };
    let out = run(
        spec,
        cols,
        &[
            &["99999999999999999999.001|1", "-0.5|4", "NULL|7"],
            &["99999999999999999999.000|2", "10|5"],
            &["100.5|3", "-100|6"],
        ],
    );
    assert_eq!(out, ["100.5", "10", "-0.5"]);
}

#[test]
fn ordered_merge_of_doubles_and_case_insensitive_strings() {
    let cols = vec![dbl("f"), s("name").with_collation(45)];
    let spec = MergeSpec {
        visible: 2,
        order_by: vec![asc(1), asc(0)],
        ..Default::default()
    };
    let out = run(
        spec,
        cols,
        &[
            &["1e20|Apple", "0.5|banana"],
            &["-1e-5|apple", "2|BANANA"],
            &["3|Éclair"],
        ],
    );
    assert_eq!(
        out,
        [
            "-1e-5|apple",
            "1e20|Apple",
            "0.5|banana",
            "2|BANANA",
            "3|Éclair"
        ]
    );
}

#[test]
fn aggregates_without_group_by() {
    // COUNT(*), SUM(int)->DECIMAL(,0), MIN(name), MAX(name), AVG(k) via sum+count, SUM(double)
    let cols = vec![
        bigint("count(*)"),
        dec("sum(k)", 0),
        s("min(name)"),
        s("max(name)"),
        dec("avg(k)", 4),
        dbl("sum(f)"),
        dec("s", 0),
        bigint("c"),
    ];
    let spec = MergeSpec {
        visible: 6,
        aggregates: vec![
            agg(0, AggFunc::Count),
            agg(1, AggFunc::Sum),
            agg(2, AggFunc::Min),
            agg(3, AggFunc::Max),
            agg(
                4,
                AggFunc::Avg {
                    sum: 6,
                    count: 7,
                    exact: None,
                },
            ),
            agg(5, AggFunc::Sum),
        ],
        ..Default::default()
    };
    let (out_cols, _) = merge(spec.clone(), cols.clone(), vec![]).unwrap();
    assert_eq!(out_cols.len(), 6);
    assert_eq!(out_cols[4].column_type, ColumnType::MYSQL_TYPE_NEWDECIMAL);
    assert_eq!(out_cols[4].decimals, 4);
    assert_eq!(out_cols[0].column_type, ColumnType::MYSQL_TYPE_LONGLONG);

    let out = run(
        spec.clone(),
        cols.clone(),
        &[
            &["3|10|b|x|NULL|0.1|10|3"],
            &["0|NULL|NULL|NULL|NULL|NULL|NULL|0"],
            &["2|-3|A|Y|NULL|0.2|-3|2"],
            &["1|NULL|c|NULL|NULL|1e20|NULL|0"],
        ],
    );
    // AVG = 7/5 = 1.4000; count(*) 6; sum(f) = 0.1+0.2+1e20
    assert_eq!(out, ["6|7|A|Y|1.4000|1e20"]);

    // all empty: COUNT 0, others NULL
    let out = run(
        spec.clone(),
        cols.clone(),
        &[
            &["0|NULL|NULL|NULL|NULL|NULL|NULL|0"],
            &["0|NULL|NULL|NULL|NULL|NULL|NULL|0"],
        ],
    );
    assert_eq!(out, ["0|NULL|NULL|NULL|NULL|NULL"]);
    // no shard rows at all still gives one row
    let out = run(spec, cols, &[&[], &[]]);
    assert_eq!(out, ["0|NULL|NULL|NULL|NULL|NULL"]);
}

#[test]
fn avg_rounding_and_double_avg() {
    let cols = vec![
        dec("avg", 6),
        dec("s", 2),
        bigint("c"),
        dbl("avgf"),
        dbl("sf"),
        bigint("cf"),
    ];
    let spec = avg_spec(1, 2, None);
    // (-2.00 + 0.00) / 3 = -0.6666666.. -> -0.666667
    let out = run(
        spec.clone(),
        cols.clone(),
        &[&["x|-2.00|2|x|x|0"], &["x|0.00|1|x|x|0"]],
    );
    assert_eq!(out, ["-0.666667"]);
    // half away from zero: 0.0000005 -> 0.000001 (1.00 / 2000000)
    let out = run(spec, cols.clone(), &[&["x|1.00|2000000|x|x|0"]]);
    assert_eq!(out, ["0.000001"]);
    let spec = MergeSpec {
        visible: 4,
        aggregates: vec![agg(
            3,
            AggFunc::Avg {
                sum: 4,
                count: 5,
                exact: None,
            },
        )],
        ..Default::default()
    };
    let (out_cols, _) = merge(spec.clone(), cols.clone(), vec![]).unwrap();
    assert_eq!(out_cols[3].column_type, ColumnType::MYSQL_TYPE_DOUBLE);
    let out = run(spec, cols, &[&["1|1|1|x|0.5|1"], &["1|1|1|x|0.25|2"]]);
    assert_eq!(out, ["1|1|1|0.25"]);
}

fn group_cols() -> Vec<ColumnMeta> {
    // name, COUNT(*), SUM(v), MAX(v), AVG(v) [sum hidden 5, count hidden 6]
    vec![
        s("name"),
        bigint("cnt"),
        dec("sum", 0),
        int("max"),
        dec("avg", 4),
        dec("s", 0),
        bigint("c"),
    ]
}
fn group_aggs() -> Vec<Aggregate> {
    vec![
        agg(1, AggFunc::Count),
        agg(2, AggFunc::Sum),
        agg(3, AggFunc::Max),
        agg(
            4,
            AggFunc::Avg {
                sum: 5,
                count: 6,
                exact: None,
            },
        ),
    ]
}

const GROUP_DATA: &[&[&str]] = &[
    &["a|2|3|2|x|3|2", "B|1|5|5|x|5|1", "c|1|NULL|NULL|x|NULL|0"],
    &["A |1|1|1|x|1|1", "b|2|-4|1|x|-4|2"],
    &[],
    &["b|1|0|0|x|0|1", "d|3|30|20|x|30|3"],
];

#[test]
fn group_by_sorted_and_unsorted_agree() {
    let spec = MergeSpec {
        visible: 5,
        group_by: vec![0],
        groups_sorted: true,
        aggregates: group_aggs(),
        ..Default::default()
    };
    let want = [
        "a|3|4|2|1.3333",
        "B|4|1|5|0.2500",
        "c|1|NULL|NULL|NULL",
        "d|3|30|20|10.0000",
    ];
    assert_eq!(run(spec.clone(), group_cols(), GROUP_DATA), want);
    // unsorted: shards in arbitrary order; hash aggregate then sorted by group
    let shuffled: &[&[&str]] = &[
        &["c|1|NULL|NULL|x|NULL|0", "a|2|3|2|x|3|2", "B|1|5|5|x|5|1"],
        &["b|2|-4|1|x|-4|2", "A |1|1|1|x|1|1"],
        &["d|3|30|20|x|30|3", "b|1|0|0|x|0|1"],
    ];
    let spec = MergeSpec {
        groups_sorted: false,
        ..spec
    };
    assert_eq!(run(spec, group_cols(), shuffled), want);
}

#[test]
fn group_by_having_order_by_aggregate_limit() {
    use super::spec::Expr as E;
    // HAVING COUNT(*) >= 3 OR name IN ('c') ; ORDER BY AVG DESC, name ; LIMIT 2
    let having = E::Binary {
        op: BinaryOp::Or,
        left: Box::new(E::Binary {
            op: BinaryOp::GtEq,
            left: Box::new(E::Column(1)),
            right: Box::new(E::Literal(Value::Int(3))),
        }),
        right: Box::new(E::InList {
            expr: Box::new(E::Column(0)),
            list: vec![E::Literal(b("C"))],
            negated: false,
        }),
    };
    let spec = MergeSpec {
        visible: 5,
        group_by: vec![0],
        groups_sorted: true,
        aggregates: group_aggs(),
        having: Some(having.clone()),
        order_by: vec![desc(4), asc(0)],
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(
        run(spec.clone(), group_cols(), GROUP_DATA),
        ["d|3|30|20|10.0000", "a|3|4|2|1.3333"]
    );
    // with offset: skips into the held, sorted groups (NULL AVG sorts last in DESC)
    let spec2 = MergeSpec {
        offset: 2,
        limit: Some(5),
        ..spec.clone()
    };
    assert_eq!(
        run(spec2, group_cols(), GROUP_DATA),
        ["B|4|1|5|0.2500", "c|1|NULL|NULL|NULL"]
    );
    // HAVING with BETWEEN / NOT / AVG (decimal) comparison
    let having = E::Binary {
        op: BinaryOp::And,
        left: Box::new(E::Between {
            expr: Box::new(E::Column(4)),
            low: Box::new(E::Literal(b("0.25"))),
            high: Box::new(E::Literal(Value::Int(10))),
            negated: false,
        }),
        right: Box::new(E::Not(Box::new(E::Binary {
            op: BinaryOp::Eq,
            left: Box::new(E::Column(0)),
            right: Box::new(E::Literal(b("D"))),
        }))),
    };
    let spec3 = MergeSpec {
        having: Some(having),
        order_by: vec![],
        limit: None,
        ..spec
    };
    assert_eq!(
        run(spec3, group_cols(), GROUP_DATA),
        ["a|3|4|2|1.3333", "B|4|1|5|0.2500"]
    );
}

#[test]
fn group_by_desc_order_sorts_after_streaming_groups() {
    // GROUP BY name ORDER BY name DESC: shards sorted by name ASC
    let spec = MergeSpec {
        visible: 2,
        group_by: vec![0],
        groups_sorted: true,
        aggregates: vec![agg(1, AggFunc::Count)],
        order_by: vec![desc(0)],
        ..Default::default()
    };
    let cols = vec![s("name"), bigint("c")];
    let out = run(
        spec.clone(),
        cols.clone(),
        &[&["a|1", "b|2", "z|1"], &["A|5", "Z|1"]],
    );
    assert_eq!(out, ["z|2", "b|2", "a|6"]);
    // shards in the wrong order are an error, not a wrong result
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (_, mut m) = merge(spec, cols, shards(&[&["z|1", "b|2", "a|1"], &["Z|1"]])).unwrap();
        let err = m.collect().await.unwrap_err();
        assert!(
            matches!(err, MergeError::UnsortedInput { shard: 0 }),
            "{err}"
        );
    });
}

#[test]
fn distinct_adjacent_and_hash() {
    let cols = vec![s("name"), int("k")];
    // sorted by both visible columns: adjacent dedupe
    let spec = MergeSpec {
        visible: 2,
        distinct: true,
        order_by: vec![asc(0), asc(1)],
        ..Default::default()
    };
    let out = run(
        spec,
        cols.clone(),
        &[
            &["a|1", "b|1", "b|2"],
            &["A|1", "B|2", "c|NULL"],
            &["a |1", "c|NULL"],
        ],
    );
    assert_eq!(out, ["a|1", "b|1", "b|2", "c|NULL"]);
    // no order: hash set
    let spec = MergeSpec {
        visible: 2,
        distinct: true,
        limit: Some(3),
        ..Default::default()
    };
    let out = run(
        spec,
        cols.clone(),
        &[&["a|1", "b|1"], &["A|1", "b|1", "c|2"], &["d|2"]],
    );
    assert_eq!(out, ["a|1", "b|1", "c|2"]);
    // ordered by a different column than all visible: hash
    let spec = MergeSpec {
        visible: 2,
        distinct: true,
        order_by: vec![desc(1)],
        ..Default::default()
    };
    let out = run(
        spec,
        cols,
        &[&["x|2", "a|1", "b|1"], &["X|2", "a|1", "A|1"]],
    );
    assert_eq!(out, ["x|2", "a|1", "b|1"]);
}

#[test]
fn distinct_with_group_by_and_order() {
    // SELECT DISTINCT COUNT(*) FROM t GROUP BY g ORDER BY 1
    let spec = MergeSpec {
        visible: 1,
        group_by: vec![1],
        groups_sorted: true,
        aggregates: vec![agg(0, AggFunc::Count)],
        distinct: true,
        order_by: vec![asc(0)],
        ..Default::default()
    };
    let out = run(
        spec,
        vec![bigint("c"), int("g")],
        &[&["1|1", "2|2", "1|3"], &["1|2", "2|4"]],
    );
    // counts per g: 1 -> 1, 2 -> 3, 3 -> 1, 4 -> 2
    assert_eq!(out, ["1", "2", "3"]);
}

#[test]
fn binary_protocol_inputs_and_outputs() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let cols = vec![bigint("cnt"), dec("sum", 0), dbl("f"), int("k")];
        let spec = MergeSpec {
            visible: 3,
            group_by: vec![3],
            groups_sorted: false,
            aggregates: vec![
                agg(0, AggFunc::Count),
                agg(1, AggFunc::Sum),
                agg(2, AggFunc::Min),
            ],
            ..Default::default()
        };
        let inputs: Vec<Box<dyn RowStream + Send>> = vec![
            Box::new(VecStream::new(vec![vec![
                Value::Int(2),
                b("5"),
                Value::Double(0.5),
                Value::Int(1),
            ]])),
            Box::new(VecStream::new(vec![vec![
                Value::Int(3),
                b("-1"),
                Value::Double(-1e20),
                Value::Int(1),
            ]])),
        ];
        let (_, mut m) = merge(spec, cols, inputs).unwrap();
        m.set_protocol(Protocol::Binary);
        let rows = m.collect().await.unwrap();
        assert_eq!(
            rows,
            vec![vec![Value::Int(5), b("4"), Value::Double(-1e20)]]
        );
    });
}

#[test]
fn bad_values_are_errors_not_panics() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let spec = MergeSpec {
            visible: 1,
            aggregates: vec![agg(0, AggFunc::Sum)],
            ..Default::default()
        };
        let (_, mut m) = merge(spec, vec![dec("s", 0)], shards(&[&["abc"]])).unwrap();
        assert!(matches!(
            m.next_row().await,
            Err(MergeError::BadValue { .. })
        ));
        // short rows
        let spec = MergeSpec {
            visible: 2,
            order_by: vec![asc(1)],
            ..Default::default()
        };
        let (_, mut m) = merge(spec, vec![int("a"), int("b")], shards(&[&["1"]])).unwrap();
        assert!(matches!(
            m.next_row().await,
            Err(MergeError::RowWidth { .. })
        ));
        // spec out of range
        let spec = MergeSpec {
            visible: 1,
            order_by: vec![asc(5)],
            ..Default::default()
        };
        assert!(merge(spec, vec![int("a")], vec![]).is_err());
    });
}

/// Streams `n` sorted rows without holding them.
struct Counter {
    next: u64,
    step: u64,
    end: u64,
}
impl RowStream for Counter {
    fn next_row(&mut self) -> RowFuture<'_> {
        let v = if self.next < self.end {
            let v = self.next;
            self.next += self.step;
            Some(vec![Value::Bytes(v.to_string().into_bytes())])
        } else {
            None
        };
        Box::pin(async move { Ok(v) })
    }
}

#[test]
fn million_row_ordered_merge_holds_one_row_per_shard() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let inputs: Vec<Box<dyn RowStream + Send>> = (0..4)
            .map(|i| {
                Box::new(Counter {
                    next: i,
                    step: 4,
                    end: 1_000_000,
                }) as Box<dyn RowStream + Send>
            })
            .collect();
        let spec = MergeSpec {
            visible: 1,
            order_by: vec![asc(0)],
            ..Default::default()
        };
        let (_, mut m) = merge(spec, vec![bigint("id")], inputs).unwrap();
        let mut expect = 0u64;
        while let Some(row) = m.next_row().await.unwrap() {
            assert_eq!(row[0], Value::Bytes(expect.to_string().into_bytes()));
            expect += 1;
        }
        assert_eq!(expect, 1_000_000);
        assert!(m.max_heap_len() <= 4);
        assert_eq!(m.max_sort_buffer(), 0);
    });
}

#[test]
fn top_k_sort_buffer_is_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // GROUP BY id (sorted) ORDER BY COUNT DESC LIMIT 5 over 100k groups
        let inputs: Vec<Box<dyn RowStream + Send>> = (0..2)
            .map(|i| {
                let rows: Vec<Vec<Value>> = (0..50_000u64)
                    .map(|k| {
                        vec![
                            b(&(k * 2 + i).to_string()),
                            b(&((k * 7919) % 1000).to_string()),
                        ]
                    })
                    .collect();
                Box::new(VecStream::new(rows)) as Box<dyn RowStream + Send>
            })
            .collect();
        let spec = MergeSpec {
            visible: 2,
            group_by: vec![0],
            groups_sorted: true,
            aggregates: vec![agg(1, AggFunc::Count)],
            order_by: vec![desc(1), asc(0)],
            limit: Some(5),
            ..Default::default()
        };
        let (_, mut m) = merge(spec, vec![bigint("id"), bigint("c")], inputs).unwrap();
        let rows = text(&m.collect().await.unwrap());
        assert_eq!(rows.len(), 5);
        assert!(rows[0].ends_with("|999"));
        assert!(m.max_sort_buffer() <= 1024);
    });
}

#[test]
fn channel_streams_on_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut inputs: Vec<Box<dyn RowStream + Send>> = Vec::new();
        let mut tasks = Vec::new();
        for shard in 0..3u64 {
            let (tx, stream) = ChannelStream::channel(4);
            inputs.push(Box::new(stream));
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                for k in (0..10_000u64).rev() {
                    let row = vec![Value::Bytes((k * 3 + shard).to_string().into_bytes())];
                    if tx.send(Ok(row)).await.is_err() {
                        break; // merger cancelled
                    }
                    sent += 1;
                }
                sent
            }));
        }
        let spec = MergeSpec {
            visible: 1,
            order_by: vec![desc(0)],
            limit: Some(10),
            ..Default::default()
        };
        let (_, mut m) = merge(spec, vec![bigint("id")], inputs).unwrap();
        // the whole merge runs inside a spawned task: it must be Send
        let (rows, early) = tokio::spawn(async move {
            let rows = m.collect().await.unwrap();
            (rows, m.stopped_early())
        })
        .await
        .unwrap();
        assert_eq!(rows.len(), 10);
        assert!(early);
        let want: Vec<String> = (29_990..30_000).rev().map(|v: u64| v.to_string()).collect();
        assert_eq!(text(&rows), want);
        for t in tasks {
            let sent = t.await.unwrap();
            assert!(sent < 10_000, "shard task was not stopped: {sent}");
        }
    });
}

#[test]
fn shard_error_propagates() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, stream) = ChannelStream::channel(2);
        tx.send(Ok(r("1"))).await.unwrap();
        tx.send(Err(MergeError::Shard {
            shard: 0,
            message: "gone".into(),
        }))
        .await
        .unwrap();
        drop(tx);
        let spec = MergeSpec {
            visible: 1,
            ..Default::default()
        };
        let (_, mut m) = merge(spec, vec![int("a")], vec![Box::new(stream)]).unwrap();
        assert_eq!(m.next_row().await.unwrap(), Some(r("1")));
        assert!(matches!(m.next_row().await, Err(MergeError::Shard { .. })));
    });
}

#[test]
fn garbage_values_never_panic() {
    let types = [
        ColumnType::MYSQL_TYPE_LONGLONG,
        ColumnType::MYSQL_TYPE_NEWDECIMAL,
        ColumnType::MYSQL_TYPE_DOUBLE,
        ColumnType::MYSQL_TYPE_DATE,
        ColumnType::MYSQL_TYPE_DATETIME,
        ColumnType::MYSQL_TYPE_TIME,
        ColumnType::MYSQL_TYPE_VAR_STRING,
        ColumnType::MYSQL_TYPE_BLOB,
    ];
    let samples: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"-".to_vec(),
        b"99999999999999999999999999999999999999999999-99-99".to_vec(),
        b"4294967295:4294967295:4294967295.9999999".to_vec(),
        b"1e400".to_vec(),
        b"-0".to_vec(),
        b"NaN".to_vec(),
        vec![0xff, 0xfe, 0x20, 0x20],
        "  数据  ".as_bytes().to_vec(),
        b"2024-13-45 25:61:61.1234567".to_vec(),
        b"-838:59:59.000000".to_vec(),
    ];
    for t in types {
        let m = ColumnMeta::new("x", t);
        for a in &samples {
            let va = Value::Bytes(a.clone());
            let _ = to_binary_value(va.clone(), &m);
            let _ = to_text_value(va.clone(), &m);
            for b in &samples {
                let _ = compare_values(&va, &Value::Bytes(b.clone()), &m);
            }
        }
        // aggregates over garbage give errors, not panics
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for f in [AggFunc::Count, AggFunc::Sum, AggFunc::Min, AggFunc::Max] {
            let spec = MergeSpec {
                visible: 1,
                group_by: vec![0],
                aggregates: vec![agg(0, f.clone())],
                order_by: vec![desc(0)],
                limit: Some(3),
                ..Default::default()
            };
            let rows: Vec<Vec<Value>> = samples
                .iter()
                .map(|s| vec![Value::Bytes(s.clone())])
                .collect();
            rt.block_on(async {
                let (_, mut m) = merge(
                    spec,
                    vec![m.clone()],
                    vec![Box::new(VecStream::new(rows)) as Box<dyn RowStream + Send>],
                )
                .unwrap();
                let _ = m.collect().await;
            });
        }
    }
    for x in [f64::MAX, f64::MIN_POSITIVE, -f64::MAX, 1e-320] {
        let _ = format_double(x, 31);
        let _ = format_double(x, 30);
    }
}

/// A text column that MariaDB reports for a `_bin` collation: 45 + BINARY.
fn bin(name: &str) -> ColumnMeta {
    s(name).with_flags(mysql_common::constants::ColumnFlags::BINARY_FLAG)
}

#[test]
fn bin_strings_compare_by_code_point_everywhere() {
    // issue 13: `SELECT DISTINCT c COLLATE utf8mb4_bin` gave 1 row of 3
    let distinct = MergeSpec {
        visible: 1,
        distinct: true,
        ..Default::default()
    };
    let out = run(
        distinct,
        vec![bin("c")],
        &[&["abc", "ABC"], &["Abc", "abc"]],
    );
    assert_eq!(out.len(), 3, "{out:?}");
    // GROUP BY, groups arriving sorted: 'A' < 'a' by code point
    let grouped = MergeSpec {
        visible: 2,
        group_by: vec![0],
        groups_sorted: true,
        aggregates: vec![agg(1, AggFunc::Count)],
        order_by: vec![asc(0)],
        ..Default::default()
    };
    let out = run(
        grouped,
        vec![bin("c"), bigint("n")],
        &[&["ABC|1", "abc|2"], &["ABC|3", "Abc|1", "abc|1"]],
    );
    assert_eq!(out, ["ABC|4", "Abc|1", "abc|3"]);
    // ORDER BY DESC: the shards' order is checked with the same collation
    let desc_order = MergeSpec {
        visible: 1,
        order_by: vec![desc(0)],
        ..Default::default()
    };
    let out = run(
        desc_order,
        vec![bin("c")],
        &[&["b", "a", "B"], &["abc", "ABC"]],
    );
    assert_eq!(out, ["b", "abc", "a", "B", "ABC"]);
    // MIN / MAX
    let minmax = MergeSpec {
        visible: 2,
        aggregates: vec![agg(0, AggFunc::Min), agg(1, AggFunc::Max)],
        ..Default::default()
    };
    let out = run(minmax, vec![bin("lo"), bin("hi")], &[&["a|a"], &["B|B"]]);
    assert_eq!(out, ["B|a"]);
}

#[test]
fn exact_sums_are_added_then_rounded_once() {
    // SUM(k/7): each shard shows 0.1429 (0.142857142 inside); the exact
    // column carries every digit. 3 x 0.142857142 = 0.428571426 -> 0.4286,
    // the shown parts would add up to 0.4287.
    let spec = MergeSpec {
        visible: 1,
        aggregates: vec![agg(0, AggFunc::ExactSum { exact: 1 })],
        ..Default::default()
    };
    let cols = vec![dec("sum", 4), dec("exact", 30)];
    let row = "0.1429|0.142857142000000000000000000000";
    let out = run(spec.clone(), cols.clone(), &[&[row], &[row], &[row]]);
    assert_eq!(out, ["0.4286"]);
    // a sum clipped by its CAST is an error, not a total
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let clipped = format!("1|{}.{}", "9".repeat(35), "9".repeat(30));
    let err = rt.block_on(async {
        let (_, mut m) = merge(spec, cols, shards(&[&[clipped.as_str()]])).unwrap();
        m.collect().await
    });
    assert!(matches!(err, Err(MergeError::BadValue { .. })), "{err:?}");
}

#[test]
fn avg_is_cut_where_mariadb_cuts_it() {
    let avg = |scale: u8, sum_scale: u8, rows: &[&str]| {
        let spec = avg_spec(1, 2, None);
        let cols = vec![dec("avg", scale), dec("sum", sum_scale), bigint("n")];
        let data: Vec<&[&str]> = rows.iter().map(std::slice::from_ref).collect();
        run(spec, cols, &data)
    };
    // AVG of a DECIMAL(10,5): scale 9 = one whole word, the quotient is
    // cut there (MariaDB: 0.00002 / 3 = 0.000006666)
    assert_eq!(avg(9, 5, &["x|0.00002|2", "x|0.00000|1"]), ["0.000006666"]);
    // scale 4 of an integer sum: cut at 9 digits, shown rounded
    assert_eq!(avg(4, 0, &["x|5|2", "x|0|1"]), ["1.6667"]);
    // div_precision_increment = 0: AVG of integers is cut to an integer
    assert_eq!(avg(0, 0, &["x|5|3"]), ["1"]);
    assert_eq!(avg(0, 0, &["x|-5|3"]), ["-1"]);
    // a sum with more digits than its scale (a division kept at full
    // precision) is rounded: 0.009523809333.. at 9
    let spec = avg_spec(1, 2, Some(3));
    let cols = vec![dec("avg", 9), dec("sum", 5), bigint("n"), dec("exact", 30)];
    let out = run(
        spec,
        cols,
        &[
            &["x|0.02857|2|0.028571428000000000000000000000"],
            &["x|0.00000|1|0"],
        ],
    );
    assert_eq!(out, ["0.009523809"]);
}

#[test]
fn avg_takes_the_shards_avg_metadata() {
    let spec = avg_spec(1, 2, None);
    let mut shard_avg = dec("AVG(d)", 7);
    shard_avg.column_length = 18;
    let (cols, _) = merge(
        spec,
        vec![shard_avg.clone(), dec("s", 3), bigint("n")],
        vec![],
    )
    .unwrap();
    assert_eq!(cols, vec![shard_avg]);
}
