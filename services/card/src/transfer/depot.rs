//! Depots as a transfer sees them (the broadcast `depot` table).

use mysql_async::prelude::Queryable;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depot {
    pub id: i64,
    pub province: String,
    pub city: String,
    pub active: bool,
    pub holds_cards: bool,
}

impl Depot {
    /// Why cards cannot be put in this depot, if they cannot.
    pub fn refuses_cards(&self) -> Option<String> {
        if !self.active {
            Some(format!("depot {} is disabled", self.id))
        } else if !self.holds_cards {
            Some(format!("depot {} does not hold cards", self.id))
        } else {
            None
        }
    }
}

pub async fn find<Q: Queryable>(c: &mut Q, id: i64) -> Result<Option<Depot>, mysql_async::Error> {
    let row: Option<(String, String, String, i64)> = c
        .exec_first(
            "SELECT province_code, city_code, status, holds_cards FROM depot WHERE depot_id = ?",
            (id,),
        )
        .await?;
    Ok(row.map(|(province, city, status, holds)| Depot {
        id,
        province,
        city,
        active: status == "A",
        holds_cards: holds != 0,
    }))
}
