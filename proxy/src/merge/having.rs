//! Evaluation of HAVING [`Expr`]s over a merged row, with MySQL semantics:
//! three-valued logic, integer/decimal/double/string comparison rules.

use std::cmp::Ordering;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode, Signed, Zero};
use mysql_common::value::Value;

use mysql_common::constants::ColumnType;

use super::meta::{Collation, ColumnMeta, TypeClass};
use super::spec::{BinaryOp, Expr};
use super::temporal::{
    number_to_datetime, number_to_time, str_to_datetime, str_to_time, TKind, Temporal,
};
use super::value::string_weights;
use super::MergeError;

/// An evaluated SQL value.
#[derive(Debug, Clone)]
enum V {
    Null,
    Int(i128),
    Dec(BigDecimal),
    Dbl(f64),
    /// A string with the collation of the column it came from (None for literals).
    Str(Vec<u8>, Option<Collation>),
    /// A DATE, DATETIME or TIME value of a column (or a temporal parameter).
    Time(Temporal, TKind),
}

/// MySQL's string-to-number conversion: the longest numeric prefix, else 0.
fn str_to_f64(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let mut end = 0;
    let mut best = 0.0;
    // Grow the prefix while it still parses.
    while end < bytes.len() {
        end += 1;
        if !s.is_char_boundary(end) {
            continue;
        }
        let p = &s[..end];
        if let Ok(v) = p.parse::<f64>() {
            best = v;
        } else if !(p == "-"
            || p == "+"
            || p == "."
            || p == "-."
            || p == "+."
            || p.ends_with(['e', 'E'])
            || p.ends_with("e-")
            || p.ends_with("e+")
            || p.ends_with("E-")
            || p.ends_with("E+"))
        {
            break;
        }
    }
    if best.is_finite() {
        best
    } else {
        0.0
    }
}

impl V {
    fn from_value(v: &Value, meta: Option<&ColumnMeta>) -> V {
        let class = meta.map(|m| m.class());
        match v {
            Value::NULL => V::Null,
            Value::Int(i) => V::Int(*i as i128),
            Value::UInt(u) => V::Int(*u as i128),
            Value::Double(f) => V::Dbl(*f),
            Value::Float(f) => V::Dbl(*f as f64),
            Value::Bytes(b) => match class {
                Some(TypeClass::Int) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .map(V::Int)
                    .unwrap_or_else(|| V::Str(b.clone(), None)),
                Some(TypeClass::Decimal) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| BigDecimal::from_str(s.trim()).ok())
                    .map(V::Dec)
                    .unwrap_or_else(|| V::Str(b.clone(), None)),
                Some(TypeClass::Float) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .map(V::Dbl)
                    .unwrap_or_else(|| V::Str(b.clone(), None)),
                Some(TypeClass::Str(c)) => V::Str(b.clone(), Some(c)),
                Some(TypeClass::Date) => {
                    let kind = date_kind(meta.map(|m| m.column_type));
                    match std::str::from_utf8(b).ok().and_then(str_to_datetime) {
                        Some(t) => V::Time(t, kind),
                        None => V::Str(b.clone(), Some(Collation::Binary)),
                    }
                }
                Some(TypeClass::Time) => match std::str::from_utf8(b).ok().and_then(str_to_time) {
                    Some(t) => V::Time(t, TKind::Time),
                    None => V::Str(b.clone(), Some(Collation::Binary)),
                },
                None => V::Str(b.clone(), None),
            },
            Value::Date(y, mo, d, h, mi, sec, us) => {
                let t = Temporal {
                    neg: false,
                    y: *y as u32,
                    mo: *mo as u32,
                    d: *d as u32,
                    h: *h as u32,
                    mi: *mi as u32,
                    s: *sec as u32,
                    us: *us,
                };
                let kind = match meta {
                    Some(m) => date_kind(Some(m.column_type)),
                    None if (*h, *mi, *sec, *us) == (0, 0, 0, 0) => TKind::Date,
                    None => TKind::DateTime,
                };
                V::Time(t, kind)
            }
            Value::Time(neg, days, h, mi, sec, us) => V::Time(
                Temporal {
                    neg: *neg,
                    h: *days * 24 + *h as u32,
                    mi: *mi as u32,
                    s: *sec as u32,
                    us: *us,
                    ..Temporal::default()
                },
                TKind::Time,
            ),
        }
    }

    /// A temporal value as the number MariaDB computes with (`md + 0`).
    fn numeric(self) -> V {
        match self {
            V::Time(t, k) => {
                let n = t.number(k);
                if n.is_integer() {
                    n.to_string().parse().map(V::Int).unwrap_or(V::Dec(n))
                } else {
                    V::Dec(n)
                }
            }
            other => other,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, V::Null)
    }

    fn to_f64(&self) -> f64 {
        match self {
            V::Null => 0.0,
            V::Int(i) => *i as f64,
            V::Dec(d) => d.to_string().parse().unwrap_or(0.0),
            V::Dbl(f) => *f,
            V::Str(b, _) => str_to_f64(b),
            V::Time(t, k) => t.number(*k).to_string().parse().unwrap_or(0.0),
        }
    }

    fn to_dec(&self) -> Option<BigDecimal> {
        match self {
            V::Int(i) => Some(BigDecimal::from(*i)),
            V::Dec(d) => Some(d.clone()),
            V::Time(t, k) => Some(t.number(*k)),
            _ => None,
        }
    }

    /// This value as one of `kind`, as MariaDB converts the other side of a
    /// comparison with a temporal value; no valid date or time is the zero
    /// value.
    fn as_temporal(&self, kind: TKind) -> Temporal {
        let time = kind == TKind::Time;
        let from_number = |d: &BigDecimal| {
            let neg = d.is_negative();
            let d = d.abs();
            let int = d.with_scale_round(0, RoundingMode::Down);
            let us = ((&d - &int) * BigDecimal::from(1_000_000))
                .with_scale_round(0, RoundingMode::Down)
                .to_string()
                .parse::<u32>()
                .unwrap_or(0);
            let int: u128 = int.to_string().parse().unwrap_or(u128::MAX);
            if time {
                number_to_time(neg, int, us)
            } else if neg {
                None
            } else {
                i128::try_from(int)
                    .ok()
                    .and_then(|i| number_to_datetime(i, us))
            }
        };
        let t = match self {
            V::Time(t, k) if (*k == TKind::Time) == time => Some(*t),
            V::Str(b, _) => {
                let s = String::from_utf8_lossy(b);
                if time {
                    str_to_time(&s)
                } else {
                    str_to_datetime(&s)
                }
            }
            V::Dbl(f) => format!("{f}")
                .parse::<BigDecimal>()
                .ok()
                .and_then(|d| from_number(&d)),
            other => other.to_dec().and_then(|d| from_number(&d)),
        };
        t.unwrap_or_default()
    }

    /// Truth value: None = UNKNOWN.
    fn truth(&self) -> Option<bool> {
        match self {
            V::Null => None,
            V::Int(i) => Some(*i != 0),
            V::Dec(d) => Some(!d.is_zero()),
            V::Dbl(f) => Some(*f != 0.0),
            V::Str(b, _) => Some(str_to_f64(b) != 0.0),
            V::Time(t, k) => Some(!t.number(*k).is_zero()),
        }
    }
}

fn date_kind(t: Option<ColumnType>) -> TKind {
    match t {
        Some(ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE) => TKind::Date,
        _ => TKind::DateTime,
    }
}

/// Orders two temporal values of `kind` (TIME apart from dates).
fn temporal_cmp(a: &Temporal, b: &Temporal, kind: TKind) -> Ordering {
    if kind == TKind::Time {
        a.time_key().cmp(&b.time_key())
    } else {
        a.datetime_key().cmp(&b.datetime_key())
    }
}

fn bool_v(b: Option<bool>) -> V {
    match b {
        None => V::Null,
        Some(true) => V::Int(1),
        Some(false) => V::Int(0),
    }
}

/// MySQL comparison of two non-NULL values.
fn cmp(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Null, _) | (_, V::Null) => None,
        // TIME against a date: as numbers (MariaDB would add today's date)
        (V::Time(_, ka), V::Time(_, kb)) if (*ka == TKind::Time) != (*kb == TKind::Time) => {
            Some(a.to_dec()?.cmp(&b.to_dec()?))
        }
        // a date or time against anything: the other side becomes one
        (V::Time(t, k), other) => Some(temporal_cmp(t, &other.as_temporal(*k), *k)),
        (other, V::Time(t, k)) => Some(temporal_cmp(&other.as_temporal(*k), t, *k)),
        (V::Str(x, cx), V::Str(y, cy)) => {
            let c = cx.or(*cy).unwrap_or(Collation::Ci { pad: true });
            Some(string_weights(x, c).cmp(&string_weights(y, c)))
        }
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Int(_) | V::Dec(_), V::Int(_) | V::Dec(_)) => Some(a.to_dec()?.cmp(&b.to_dec()?)),
        _ => a.to_f64().partial_cmp(&b.to_f64()),
    }
}

fn arith(op: BinaryOp, a: V, b: V) -> V {
    if a.is_null() || b.is_null() {
        return V::Null;
    }
    let (a, b) = (a.numeric(), b.numeric());
    let exact = matches!((&a, &b), (V::Int(_) | V::Dec(_), V::Int(_) | V::Dec(_)));
    if op == BinaryOp::Divide {
        if exact {
            let (x, y) = match (a.to_dec(), b.to_dec()) {
                (Some(x), Some(y)) => (x, y),
                _ => return V::Null,
            };
            if y.is_zero() {
                return V::Null;
            }
            // MySQL: scale of the dividend + div_precision_increment (4).
            let scale = x.fractional_digit_count().max(0) + 4;
            return V::Dec((x / y).with_scale_round(scale, RoundingMode::HalfUp));
        }
        let y = b.to_f64();
        if y == 0.0 {
            return V::Null;
        }
        return V::Dbl(a.to_f64() / y);
    }
    if let (V::Int(x), V::Int(y)) = (&a, &b) {
        let r = match op {
            BinaryOp::Plus => x.checked_add(*y),
            BinaryOp::Minus => x.checked_sub(*y),
            _ => x.checked_mul(*y),
        };
        if let Some(r) = r {
            return V::Int(r);
        }
    }
    if exact {
        if let (Some(x), Some(y)) = (a.to_dec(), b.to_dec()) {
            return V::Dec(match op {
                BinaryOp::Plus => x + y,
                BinaryOp::Minus => x - y,
                _ => x * y,
            });
        }
    }
    let (x, y) = (a.to_f64(), b.to_f64());
    let r = match op {
        BinaryOp::Plus => x + y,
        BinaryOp::Minus => x - y,
        _ => x * y,
    };
    if r.is_finite() {
        V::Dbl(r)
    } else {
        V::Null
    }
}

fn eval(e: &Expr, row: &[Value], metas: &[ColumnMeta]) -> Result<V, MergeError> {
    Ok(match e {
        Expr::Column(i) => {
            let v = row.get(*i).ok_or(MergeError::BadColumn {
                column: *i,
                columns: row.len(),
            })?;
            V::from_value(v, metas.get(*i))
        }
        Expr::Literal(v) => V::from_value(v, None),
        Expr::Not(x) => bool_v(eval(x, row, metas)?.truth().map(|b| !b)),
        Expr::IsNull { expr, negated } => {
            let n = eval(expr, row, metas)?.is_null();
            bool_v(Some(n != *negated))
        }
        Expr::Binary { op, left, right } => {
            let l = eval(left, row, metas)?;
            match op {
                BinaryOp::And => {
                    let lt = l.truth();
                    if lt == Some(false) {
                        return Ok(V::Int(0));
                    }
                    let rt = eval(right, row, metas)?.truth();
                    bool_v(match (lt, rt) {
                        (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    })
                }
                BinaryOp::Or => {
                    let lt = l.truth();
                    if lt == Some(true) {
                        return Ok(V::Int(1));
                    }
                    let rt = eval(right, row, metas)?.truth();
                    bool_v(match (lt, rt) {
                        (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    })
                }
                BinaryOp::Plus | BinaryOp::Minus | BinaryOp::Multiply | BinaryOp::Divide => {
                    arith(*op, l, eval(right, row, metas)?)
                }
                BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq => {
                    let r = eval(right, row, metas)?;
                    bool_v(cmp(&l, &r).map(|o| match op {
                        BinaryOp::Eq => o == Ordering::Equal,
                        BinaryOp::NotEq => o != Ordering::Equal,
                        BinaryOp::Lt => o == Ordering::Less,
                        BinaryOp::LtEq => o != Ordering::Greater,
                        BinaryOp::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    }))
                }
            }
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let x = eval(expr, row, metas)?;
            if x.is_null() {
                return Ok(V::Null);
            }
            let mut saw_null = false;
            let mut found = false;
            for item in list {
                match cmp(&x, &eval(item, row, metas)?) {
                    Some(Ordering::Equal) => {
                        found = true;
                        break;
                    }
                    Some(_) => {}
                    None => saw_null = true,
                }
            }
            let r = if found {
                Some(true)
            } else if saw_null {
                None
            } else {
                Some(false)
            };
            bool_v(r.map(|b| b != *negated))
        }
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let x = eval(expr, row, metas)?;
            let lo = cmp(&x, &eval(low, row, metas)?).map(|o| o != Ordering::Less);
            let hi = cmp(&x, &eval(high, row, metas)?).map(|o| o != Ordering::Greater);
            let r = match (lo, hi) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            bool_v(r.map(|b| b != *negated))
        }
    })
}

/// True when `expr` is TRUE for `row` (FALSE and UNKNOWN reject the row).
pub fn eval_predicate(
    expr: &Expr,
    row: &[Value],
    metas: &[ColumnMeta],
) -> Result<bool, MergeError> {
    Ok(eval(expr, row, metas)?.truth() == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::constants::ColumnType;

    fn col(i: usize) -> Box<Expr> {
        Box::new(Expr::Column(i))
    }
    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }
    fn bin(op: BinaryOp, l: Box<Expr>, r: Box<Expr>) -> Box<Expr> {
        Box::new(Expr::Binary {
            op,
            left: l,
            right: r,
        })
    }
    fn b(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn three_valued_logic_and_comparisons() {
        let metas = vec![
            ColumnMeta::new("n", ColumnType::MYSQL_TYPE_LONGLONG),
            ColumnMeta::new("d", ColumnType::MYSQL_TYPE_NEWDECIMAL),
            ColumnMeta::new("s", ColumnType::MYSQL_TYPE_VAR_STRING),
            ColumnMeta::new("f", ColumnType::MYSQL_TYPE_DOUBLE),
        ];
        let row = vec![b("10"), b("2.50"), b("abc "), Value::NULL];
        let t = |e: Box<Expr>| eval_predicate(&e, &row, &metas).unwrap();
        assert!(t(bin(BinaryOp::Gt, col(0), lit(Value::Int(9)))));
        assert!(!t(bin(BinaryOp::Gt, col(0), lit(Value::Int(10)))));
        assert!(t(bin(BinaryOp::Eq, col(1), lit(b("2.5")))));
        assert!(t(bin(BinaryOp::Eq, col(2), lit(b("ABC")))));
        // '10' string vs number: numeric
        assert!(t(bin(BinaryOp::Eq, lit(b("10abc")), col(0))));
        // NULL comparisons are unknown, NOT unknown is unknown
        assert!(!t(bin(BinaryOp::Eq, col(3), col(3))));
        assert!(!t(Box::new(Expr::Not(bin(BinaryOp::Eq, col(3), col(3))))));
        // unknown OR true = true; unknown AND false = false
        assert!(t(bin(
            BinaryOp::Or,
            bin(BinaryOp::Eq, col(3), col(3)),
            bin(BinaryOp::Gt, col(0), lit(Value::Int(1)))
        )));
        assert!(t(Box::new(Expr::Not(bin(
            BinaryOp::And,
            bin(BinaryOp::Eq, col(3), col(3)),
            bin(BinaryOp::Lt, col(0), lit(Value::Int(1)))
        )))));
        assert!(t(Box::new(Expr::IsNull {
            expr: col(3),
            negated: false
        })));
        // IN with NULL in list: unknown unless found
        let inl = |negated, list: Vec<Expr>| {
            Box::new(Expr::InList {
                expr: col(0),
                list,
                negated,
            })
        };
        assert!(t(inl(
            false,
            vec![Expr::Literal(Value::Int(1)), Expr::Literal(Value::Int(10))]
        )));
        assert!(!t(inl(
            true,
            vec![Expr::Literal(Value::Int(1)), Expr::Literal(Value::NULL)]
        )));
        assert!(t(inl(
            true,
            vec![Expr::Literal(Value::Int(1)), Expr::Literal(Value::Int(2))]
        )));
        let between = |lo: i64, hi: i64, negated| {
            Box::new(Expr::Between {
                expr: col(0),
                low: lit(Value::Int(lo)),
                high: lit(Value::Int(hi)),
                negated,
            })
        };
        assert!(t(between(10, 20, false)));
        assert!(!t(between(11, 20, false)));
        assert!(t(between(11, 20, true)));
        // arithmetic: 10 / 4 = 2.5000 ; 10 / 0 = NULL
        assert!(t(bin(
            BinaryOp::Eq,
            bin(BinaryOp::Divide, col(0), lit(Value::Int(4))),
            col(1)
        )));
        assert!(!t(Box::new(Expr::IsNull {
            expr: bin(BinaryOp::Divide, col(0), lit(Value::Int(0))),
            negated: true
        })));
        assert!(t(bin(
            BinaryOp::Eq,
            bin(BinaryOp::Multiply, col(1), lit(Value::Int(4))),
            bin(BinaryOp::Minus, col(0), lit(Value::Double(0.0)))
        )));
    }
}

#[cfg(test)]
mod temporal_tests {
    use super::*;
    use mysql_common::constants::ColumnType;

    fn b(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// `column op literal` on one row.
    fn holds(meta: ColumnType, value: Value, op: BinaryOp, lit: Value) -> bool {
        let metas = vec![ColumnMeta::new("x", meta)];
        let e = Expr::Binary {
            op,
            left: Box::new(Expr::Column(0)),
            right: Box::new(Expr::Literal(lit)),
        };
        eval_predicate(&e, &[value], &metas).unwrap()
    }

    #[test]
    fn dates_compare_with_numbers_and_strings_as_dates() {
        use ColumnType::MYSQL_TYPE_DATE as DATE;
        let d = || b("2024-03-05");
        // issue 13: HAVING md > 20240301 on a DATE
        assert!(holds(DATE, d(), BinaryOp::Gt, Value::Int(20240301)));
        assert!(!holds(DATE, d(), BinaryOp::Gt, Value::Int(20240306)));
        assert!(holds(DATE, d(), BinaryOp::Eq, Value::Int(240305)));
        assert!(holds(DATE, d(), BinaryOp::Eq, b("2024-3-5")));
        assert!(holds(DATE, d(), BinaryOp::Eq, b("20240305")));
        assert!(holds(DATE, d(), BinaryOp::Lt, b("2024-03-05 00:00:01")));
        // no date at all compares as the zero date
        assert!(holds(DATE, d(), BinaryOp::Gt, b("abc")));
        assert!(holds(DATE, d(), BinaryOp::Gt, Value::Int(2024)));
        // binary protocol values
        assert!(holds(
            DATE,
            Value::Date(2024, 3, 5, 0, 0, 0, 0),
            BinaryOp::Eq,
            Value::Date(2024, 3, 5, 0, 0, 0, 0)
        ));
        let dt = ColumnType::MYSQL_TYPE_DATETIME;
        assert!(holds(
            dt,
            b("2024-03-01 10:00:00"),
            BinaryOp::Eq,
            Value::Int(20240301100000)
        ));
        assert!(holds(
            dt,
            b("2024-03-01 10:00:00"),
            BinaryOp::Gt,
            b("2024-03-01")
        ));
    }

    #[test]
    fn times_compare_with_numbers_as_hhmmss() {
        use ColumnType::MYSQL_TYPE_TIME as TIME;
        let t = || b("01:00:00");
        // issue 13: a TIME 01:00:00 is not 1 (00:00:01) but 10000
        assert!(!holds(TIME, t(), BinaryOp::Eq, Value::Int(1)));
        assert!(holds(TIME, t(), BinaryOp::Eq, Value::Int(10000)));
        assert!(holds(TIME, t(), BinaryOp::Eq, b("1:00")));
        assert!(holds(TIME, t(), BinaryOp::Gt, Value::Int(5959)));
        assert!(holds(TIME, b("-01:00:00"), BinaryOp::Lt, Value::Int(-5959)));
        assert!(holds(TIME, b("100:00:00"), BinaryOp::Gt, b("99:59:59")));
        assert!(holds(
            TIME,
            Value::Time(false, 1, 1, 0, 0, 0),
            BinaryOp::Eq,
            b("25:00:00")
        ));
        // arithmetic uses the number: 01:00:00 + 0 = 10000
        let metas = vec![ColumnMeta::new("x", TIME)];
        let e = Expr::Binary {
            op: BinaryOp::Eq,
            left: Box::new(Expr::Binary {
                op: BinaryOp::Plus,
                left: Box::new(Expr::Column(0)),
                right: Box::new(Expr::Literal(Value::Int(0))),
            }),
            right: Box::new(Expr::Literal(Value::Int(10000))),
        };
        assert!(eval_predicate(&e, &[t()], &metas).unwrap());
    }
}
