//! Paging of listings, the same for every center: the query parameters and
//! the page they answer with.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::ApiError;

/// Paging of every listing: `page` from 1, `page_size` up to 200.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200, default = 20)]
    pub page_size: Option<u32>,
}

impl Paging {
    pub fn resolve(self) -> Result<(u32, u32), ApiError> {
        let page = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(20);
        if !(1..=100_000).contains(&page) {
            return Err(ApiError::Invalid("page must be 1 to 100000".into()));
        }
        if !(1..=200).contains(&size) {
            return Err(ApiError::Invalid("page_size must be 1 to 200".into()));
        }
        Ok((page, size))
    }
}

/// A page of a listing.
#[macro_export]
macro_rules! paged {
    ($name:ident, $item:ty) => {
        #[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub total: i64,
            pub page: u32,
            pub page_size: u32,
        }
    };
}
