//! The BSDM org feed (组织机构同步): departments, channels and staff, the
//! same rows as `POST /api/v1/sync/{departments,channels,staff}`. Empty
//! cells are absent fields; codes, province codes, channel types and
//! statuses are read as the API reads them.

use haoka_permission::sync::{ChannelRow, DepartmentRow, StaffRow};
use serde::de::DeserializeOwned;

use super::LineResult;

pub const DEPT_HEADER: &[&str] = &["code", "name", "parent_code", "province_code", "status"];
pub const CHANNEL_HEADER: &[&str] = &[
    "code",
    "name",
    "channel_type",
    "province_code",
    "parent_code",
    "status",
];
pub const STAFF_HEADER: &[&str] = &[
    "staff_no",
    "name",
    "department_code",
    "province_code",
    "channel_code",
    "status",
];

/// A parsed feed line.
#[derive(Debug)]
pub enum OrgLine {
    Department(DepartmentRow),
    Channel(ChannelRow),
    Staff(StaffRow),
}

fn opt(cell: &str) -> Option<String> {
    Some(cell.trim().to_string()).filter(|s| !s.is_empty())
}

/// An enum or code cell as the API's JSON would carry it.
fn value<T: DeserializeOwned>(
    line_no: u32,
    key: &str,
    name: &str,
    cell: &str,
) -> Result<Option<T>, LineResult> {
    let Some(v) = opt(cell) else {
        return Ok(None);
    };
    serde_json::from_value(serde_json::Value::String(v.clone()))
        .map(Some)
        .map_err(|_| {
            super::invalid(
                line_no,
                key,
                "invalid",
                format!("{name} {v:?} is not valid"),
            )
        })
}

fn required<T>(line_no: u32, key: &str, name: &str, v: Option<T>) -> Result<T, LineResult> {
    v.ok_or_else(|| super::invalid(line_no, key, "invalid", format!("{name} is empty")))
}

pub fn parse_department(line_no: u32, cells: &[String]) -> Result<OrgLine, LineResult> {
    super::columns(line_no, cells, DEPT_HEADER)?;
    let key = cells[0].as_str();
    Ok(OrgLine::Department(DepartmentRow {
        code: key.to_string(),
        name: cells[1].clone(),
        parent_code: opt(&cells[2]),
        province_code: value(line_no, key, "province_code", &cells[3])?,
        status: value(line_no, key, "status", &cells[4])?,
    }))
}

pub fn parse_channel(line_no: u32, cells: &[String]) -> Result<OrgLine, LineResult> {
    super::columns(line_no, cells, CHANNEL_HEADER)?;
    let key = cells[0].as_str();
    let channel_type = value(line_no, key, "channel_type", &cells[2])?;
    Ok(OrgLine::Channel(ChannelRow {
        code: key.to_string(),
        name: cells[1].clone(),
        channel_type: required(line_no, key, "channel_type", channel_type)?,
        province_code: value(line_no, key, "province_code", &cells[3])?,
        parent_code: opt(&cells[4]),
        status: value(line_no, key, "status", &cells[5])?,
    }))
}

pub fn parse_staff(line_no: u32, cells: &[String]) -> Result<OrgLine, LineResult> {
    super::columns(line_no, cells, STAFF_HEADER)?;
    let key = cells[0].as_str();
    Ok(OrgLine::Staff(StaffRow {
        staff_no: key.to_string(),
        name: cells[1].clone(),
        department_code: opt(&cells[2]),
        province_code: value(line_no, key, "province_code", &cells[3])?,
        channel_code: opt(&cells[4]),
        status: value(line_no, key, "status", &cells[5])?,
    }))
}
