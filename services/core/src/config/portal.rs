//! Where the operator portal's built files are (`[portal]` in the server config).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// The built portal (`portal/dist`); a relative path is taken from the
    /// config file's folder. Absent: no portal, `/` answers 404.
    pub dir: Option<PathBuf>,
}
