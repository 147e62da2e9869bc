//! Parsing as the session's MySQL reads the statement: sqlparser's MySQL
//! dialect, with backslash escapes and `"`-quoted identifiers following the
//! session's sql_mode, and literals kept exactly as written (no unescaping),
//! so that a statement rendered back from its syntax tree carries every
//! string literal byte for byte as the client wrote it.

use sqlparser::ast::Statement;
use sqlparser::dialect::{Dialect, MySqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError, ParserOptions};

use super::lexer::SqlMode;

/// MySQL under one sql_mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct HaokaDialect {
    mode: SqlMode,
    mysql: MySqlDialect,
}

impl HaokaDialect {
    pub fn new(mode: SqlMode) -> HaokaDialect {
        HaokaDialect {
            mode,
            mysql: MySqlDialect {},
        }
    }
}

/// Parses `sql` under `mode`, literals kept as written.
pub fn parse_statements(sql: &str, mode: SqlMode) -> Result<Vec<Statement>, ParserError> {
    let dialect = HaokaDialect::new(mode);
    Parser::new(&dialect)
        .with_options(ParserOptions::new().with_unescape(false))
        .try_with_sql(sql)?
        .parse_statements()
}

macro_rules! same_as_mysql {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool {
            self.mysql.$name()
        })*
    };
}

impl Dialect for HaokaDialect {
    /// The parser asks `dialect_of!(self is MySqlDialect)` in many places:
    /// this is MySQL.
    fn dialect(&self) -> std::any::TypeId {
        std::any::TypeId::of::<MySqlDialect>()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || (ch == '"' && self.mode.ansi_quotes)
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        !self.mode.no_backslash_escapes
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.mysql.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.mysql.is_identifier_part(ch)
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.mysql.identifier_quote_style(identifier)
    }

    fn supports_string_literal_table_alias(&self, explicit: bool) -> bool {
        self.mysql.supports_string_literal_table_alias(explicit)
    }

    fn ordered_bind_placeholder_style(&self) -> Option<sqlparser::dialect::BindPlaceholderStyle> {
        self.mysql.ordered_bind_placeholder_style()
    }

    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &sqlparser::ast::Expr,
        precedence: u8,
    ) -> Option<Result<sqlparser::ast::Expr, ParserError>> {
        self.mysql.parse_infix(parser, expr, precedence)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        self.mysql.parse_statement(parser)
    }

    fn is_table_factor_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool {
        self.mysql.is_table_factor_alias(explicit, kw, parser)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.mysql.get_next_precedence(parser)
    }

    same_as_mysql!(
        supports_string_literal_concatenation,
        ignores_wildcard_escapes,
        supports_numeric_prefix,
        supports_literal_prefix_in_qualified_name,
        supports_bitwise_shift_operators,
        supports_singular_value_keyword,
        supports_multiline_comment_hints,
        require_interval_qualifier,
        supports_limit_comma,
        supports_create_table_select,
        supports_insert_set,
        supports_user_host_grantee,
        supports_table_hints,
        requires_single_line_comment_whitespace,
        supports_hash_comment,
        supports_match_against,
        supports_select_modifiers,
        supports_set_names,
        supports_comma_separated_set_assignments,
        supports_alter_column_position,
        supports_update_order_by,
        supports_data_type_signed_suffix,
        supports_data_type_zerofill_suffix,
        supports_cross_join_constraint,
        supports_double_ampersand_operator,
        supports_binary_kw_as_cast,
        supports_table_partitions,
        supports_comment_optimizer_hint,
        supports_constraint_keyword_without_name,
        supports_key_column_option,
        supports_group_by_with_modifier,
        supports_left_associative_joins_without_parens,
    );
}
