//! 靓号 recognition: tail-pattern classes, the rules that map them to levels
//! 1–6 (9 = ordinary), and the default rules and level fees seeded at start.

use serde::{Deserialize, Serialize};

use haoka_core::domain::msisdn::Msisdn;

/// The ordinary level.
pub const ORDINARY: u8 = 9;

/// A tail-pattern class (the letters name equal / consecutive digits at the
/// end of the number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PatternClass {
    /// Last five digits equal: 88888.
    #[serde(rename = "AAAAA")]
    Aaaaa,
    /// Last four equal: 6666.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// Last three equal: 999.
    #[serde(rename = "AAA")]
    Aaa,
    /// Last four ascending by one: 1234, 6789.
    #[serde(rename = "ABCD")]
    Abcd,
    /// Last four descending by one: 9876.
    #[serde(rename = "DCBA")]
    Dcba,
    /// 1122.
    #[serde(rename = "AABB")]
    Aabb,
    /// 1212.
    #[serde(rename = "ABAB")]
    Abab,
    /// 1221.
    #[serde(rename = "ABBA")]
    Abba,
    /// Ends with the rule's digits (888, 168, 518 ...).
    #[serde(rename = "TAIL")]
    Tail,
    /// No 4 among the last four digits.
    #[serde(rename = "NO4")]
    No4,
}

impl PatternClass {
    pub const ALL: [PatternClass; 10] = [
        PatternClass::Aaaaa,
        PatternClass::Aaaa,
        PatternClass::Aaa,
        PatternClass::Abcd,
        PatternClass::Dcba,
        PatternClass::Aabb,
        PatternClass::Abab,
        PatternClass::Abba,
        PatternClass::Tail,
        PatternClass::No4,
    ];

    pub fn code(self) -> &'static str {
        use PatternClass::*;
        match self {
            Aaaaa => "AAAAA",
            Aaaa => "AAAA",
            Aaa => "AAA",
            Abcd => "ABCD",
            Dcba => "DCBA",
            Aabb => "AABB",
            Abab => "ABAB",
            Abba => "ABBA",
            Tail => "TAIL",
            No4 => "NO4",
        }
    }

    pub fn from_code(s: &str) -> Option<PatternClass> {
        PatternClass::ALL.into_iter().find(|c| c.code() == s)
    }

    /// Whether `digits` (a whole number) is in this class; `param` is the
    /// tail for `Tail` and ignored otherwise.
    pub fn matches(self, digits: &[u8], param: &str) -> bool {
        let n = digits.len();
        if n < 5 {
            return false;
        }
        let last = |k: usize| &digits[n - k..];
        let all_equal = |s: &[u8]| s.windows(2).all(|w| w[0] == w[1]);
        let [a, b, c, d] = [digits[n - 4], digits[n - 3], digits[n - 2], digits[n - 1]];
        use PatternClass::*;
        match self {
            Aaaaa => all_equal(last(5)),
            Aaaa => all_equal(last(4)),
            Aaa => all_equal(last(3)),
            Abcd => last(4).windows(2).all(|w| w[1] == w[0] + 1),
            Dcba => last(4).windows(2).all(|w| w[0] == w[1] + 1),
            Aabb => a == b && c == d && b != c,
            Abab => a == c && b == d && a != b,
            Abba => a == d && b == c && a != b,
            Tail => !param.is_empty() && digits.ends_with(param.as_bytes()),
            No4 => !last(4).contains(&b'4'),
        }
    }

    /// Checks a rule's parameter for this class.
    pub fn check_param(self, param: &str) -> Result<(), String> {
        match self {
            PatternClass::Tail => {
                if (1..=8).contains(&param.len()) && param.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err("a TAIL rule's pattern must be 1 to 8 digits".into())
                }
            }
            _ if param.is_empty() => Ok(()),
            _ => Err(format!(
                "a {} rule takes no pattern (leave it empty)",
                self.code()
            )),
        }
    }
}

/// A recognition rule (`premium_rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    pub rule_id: i64,
    pub level: u8,
    pub class: PatternClass,
    pub pattern: String,
    pub priority: i32,
    /// None: a national rule.
    pub province: Option<String>,
    pub enabled: bool,
}

/// The level of a number: the enabled rule of its province (or national)
/// with the lowest priority that matches, then the best level; 9 if none.
pub fn classify(number: &Msisdn, province: &str, rules: &[Rule]) -> u8 {
    rules
        .iter()
        .filter(|r| r.enabled && r.province.as_deref().is_none_or(|p| p == province))
        .filter(|r| r.class.matches(number.digits(), &r.pattern))
        .min_by_key(|r| (r.priority, r.level))
        .map(|r| r.level)
        .unwrap_or(ORDINARY)
}

/// The national rules a fresh installation starts with: (level, class,
/// pattern, priority, enabled). NO4 is there but off: two in three numbers
/// have no 4 in their last four digits, so it would make most of a segment
/// 靓号 (an operator who wants it turns it on, PATCH .../rules/{id}).
pub const DEFAULT_RULES: &[(u8, PatternClass, &str, i32, bool)] = &[
    (1, PatternClass::Aaaaa, "", 10, true),
    (2, PatternClass::Aaaa, "", 20, true),
    (3, PatternClass::Abcd, "", 30, true),
    (3, PatternClass::Dcba, "", 31, true),
    (4, PatternClass::Aabb, "", 40, true),
    (4, PatternClass::Abab, "", 41, true),
    (4, PatternClass::Abba, "", 42, true),
    (4, PatternClass::Aaa, "", 43, true),
    (5, PatternClass::Tail, "888", 50, true),
    (5, PatternClass::Tail, "168", 51, true),
    (5, PatternClass::Tail, "518", 52, true),
    (6, PatternClass::No4, "", 60, false),
];

/// Level fees: (level, name, pre-deposit, minimum monthly spend (cents), term months).
pub const DEFAULT_LEVELS: &[(u8, &str, i64, i64, i32)] = &[
    (1, "一级靓号", 500_000, 38_800, 24),
    (2, "二级靓号", 300_000, 28_800, 24),
    (3, "三级靓号", 100_000, 18_800, 24),
    (4, "四级靓号", 50_000, 12_800, 12),
    (5, "五级靓号", 20_000, 8_800, 12),
    (6, "六级靓号", 0, 5_800, 12),
    (9, "普通号码", 0, 0, 0),
];

/// The default rules as `Rule`s (ids are their positions), as seeded into an
/// empty `premium_rule` table; for classifying without a database.
pub fn default_rules() -> Vec<Rule> {
    DEFAULT_RULES
        .iter()
        .enumerate()
        .map(|(i, (level, class, pattern, priority, enabled))| Rule {
            rule_id: i as i64,
            level: *level,
            class: *class,
            pattern: pattern.to_string(),
            priority: *priority,
            province: None,
            enabled: *enabled,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(n: &str) -> u8 {
        classify(&Msisdn::parse(n).unwrap(), "51", &default_rules())
    }

    #[test]
    fn each_pattern_class_gets_its_level() {
        assert_eq!(level("13018088888"), 1, "AAAAA");
        assert_eq!(level("13018016666"), 2, "AAAA");
        assert_eq!(level("13018001234"), 3, "ABCD");
        assert_eq!(level("13018009876"), 3, "DCBA");
        assert_eq!(level("13018001122"), 4, "AABB");
        assert_eq!(level("13018001212"), 4, "ABAB");
        assert_eq!(level("13018001221"), 4, "ABBA");
        assert_eq!(level("13018000999"), 4, "AAA");
        assert_eq!(
            level("13018002888"),
            4,
            "x888 is AAA first (priority 43 < 50)"
        );
        assert_eq!(level("13018003168"), 5, "TAIL 168");
        assert_eq!(level("13018002518"), 5, "TAIL 518");
        assert_eq!(level("13018002579"), 9, "NO4 is off by default");
        assert_eq!(level("13018002479"), 9, "ordinary: a 4 in the tail");
        // Turned on, NO4 is level 6.
        let mut on = default_rules();
        on.iter_mut()
            .filter(|r| r.class == PatternClass::No4)
            .for_each(|r| r.enabled = true);
        let n = Msisdn::parse("13018002579").unwrap();
        assert_eq!(classify(&n, "51", &on), 6);
        let n = Msisdn::parse("13018002479").unwrap();
        assert_eq!(classify(&n, "51", &on), 9);
    }

    /// Every number of a full segment (10 000) under the default rules:
    /// ordinary numbers are the large majority, each level a small share.
    #[test]
    fn default_rules_leave_most_of_a_segment_ordinary() {
        let rules = default_rules();
        let mut by_level = std::collections::BTreeMap::new();
        for tail in 0..10_000 {
            let n = Msisdn::parse(&format!("1301800{tail:04}")).unwrap();
            *by_level.entry(classify(&n, "51", &rules)).or_insert(0u32) += 1;
        }
        let ordinary = f64::from(by_level[&ORDINARY]) / 10_000.0;
        assert!(ordinary >= 0.9, "only {ordinary:.3} ordinary: {by_level:?}");
        for (level, n) in &by_level {
            if *level != ORDINARY {
                assert!(*n <= 500, "level {level}: {n} of 10000 ({by_level:?})");
            }
        }
    }

    #[test]
    fn province_rules_and_disabled_rules() {
        let mut r = default_rules();
        r.push(Rule {
            rule_id: 99,
            level: 2,
            class: PatternClass::Tail,
            pattern: "520".into(),
            priority: 5,
            province: Some("36".into()),
            enabled: true,
        });
        let n = Msisdn::parse("13010001520").unwrap();
        assert_eq!(classify(&n, "36", &r), 2);
        assert_eq!(
            classify(&n, "51", &r),
            ORDINARY,
            "another province's rule does not apply"
        );
        r.iter_mut().for_each(|x| x.enabled = false);
        assert_eq!(classify(&n, "36", &r), ORDINARY);
    }

    #[test]
    fn params_are_checked() {
        assert!(PatternClass::Tail.check_param("888").is_ok());
        assert!(PatternClass::Tail.check_param("").is_err());
        assert!(PatternClass::Tail.check_param("8a").is_err());
        assert!(PatternClass::Aabb.check_param("").is_ok());
        assert!(PatternClass::Aabb.check_param("12").is_err());
        for c in PatternClass::ALL {
            assert_eq!(PatternClass::from_code(c.code()), Some(c));
        }
    }
}
