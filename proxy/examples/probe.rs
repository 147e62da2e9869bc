use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
fn main() {
    for sql in std::env::args().skip(1) {
        match Parser::parse_sql(&MySqlDialect {}, &sql) {
            Ok(v) => {
                for s in v {
                    println!("OK  {}\n    {:?}", s, s);
                }
            }
            Err(e) => println!("ERR {sql}: {e}"),
        }
    }
}
