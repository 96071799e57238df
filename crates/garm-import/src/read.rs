//! Reading garm's tables (SQLite or PostgreSQL, through `sqlx::Any`) into plain rows.
//!
//! Every column is cast to a type both backends hand to `Any` the same way: text, 64-bit
//! integers (booleans too) and bytes, so one query serves both.

use crate::source::SourceKind;
use crate::ImportError;
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// A column expression and how to read it.
pub(crate) enum Col {
    Text(&'static str),
    Int(&'static str),
    Flag(&'static str),
    Bytes(&'static str),
}

impl Col {
    fn name(&self) -> &'static str {
        match self {
            Col::Text(c) | Col::Int(c) | Col::Flag(c) | Col::Bytes(c) => c,
        }
    }

    fn sql(&self, kind: SourceKind, present: &[String]) -> String {
        if !present.iter().any(|p| p == self.name()) {
            // Older garm releases lack some columns: read them as unset.
            return format!("NULL AS {}", self.name());
        }
        match (self, kind) {
            (Col::Text(c), _) => format!("CAST({c} AS TEXT) AS {c}"),
            (Col::Int(c), _) => format!("CAST({c} AS BIGINT) AS {c}"),
            // PostgreSQL has no boolean → bigint cast, only boolean → integer.
            (Col::Flag(c), _) => format!("CAST(CAST({c} AS INTEGER) AS BIGINT) AS {c}"),
            (Col::Bytes(c), SourceKind::Sqlite) => format!("CAST({c} AS BLOB) AS {c}"),
            (Col::Bytes(c), SourceKind::Postgres) => c.to_string(),
        }
    }
}

/// One row of a garm table, by column name.
pub(crate) struct GarmRow {
    row: AnyRow,
}

impl GarmRow {
    pub fn text(&self, col: &str) -> Result<String, ImportError> {
        Ok(self.opt_text(col)?.unwrap_or_default())
    }
    pub fn opt_text(&self, col: &str) -> Result<Option<String>, ImportError> {
        self.row.try_get(col).map_err(ImportError::Source)
    }
    pub fn int(&self, col: &str) -> Result<i64, ImportError> {
        Ok(self.opt_int(col)?.unwrap_or_default())
    }
    pub fn opt_int(&self, col: &str) -> Result<Option<i64>, ImportError> {
        self.row.try_get(col).map_err(ImportError::Source)
    }
    pub fn flag(&self, col: &str) -> Result<bool, ImportError> {
        Ok(self.int(col)? != 0)
    }
    pub fn bytes(&self, col: &str) -> Result<Option<Vec<u8>>, ImportError> {
        self.row.try_get(col).map_err(ImportError::Source)
    }
    /// A Go time as SQLite (`2026-12-07 00:07:37.898311097+00:00`) or PostgreSQL
    /// (`2026-12-07 00:07:37.898311+00`) print it; missing means the zero time.
    pub fn time(&self, col: &str) -> Result<DateTime<Utc>, ImportError> {
        match self.opt_text(col)? {
            None => Ok(zero_time()),
            Some(text) => parse_time(&text).ok_or_else(|| ImportError::Corrupt {
                what: format!("{col} {text:?} is not a time"),
            }),
        }
    }
    pub fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, ImportError> {
        match self.opt_text(col)? {
            None => Ok(None),
            Some(text) => parse_time(&text).map(Some).ok_or_else(|| ImportError::Corrupt {
                what: format!("{col} {text:?} is not a time"),
            }),
        }
    }
}

pub(crate) fn zero_time() -> DateTime<Utc> {
    NaiveDateTime::parse_from_str("0001-01-01 00:00:00", "%Y-%m-%d %H:%M:%S")
        .expect("a literal date")
        .and_utc()
}

/// A Go time cut to the microsecond, the precision garm-rs keeps (so the API shows a prefix of
/// what garm showed; garm on PostgreSQL stored microseconds already).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let exact = parse_exact(text)?;
    exact.with_nanosecond(exact.nanosecond() / 1000 * 1000)
}

fn parse_exact(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    // Go prints a monotonic clock reading after the time when a value was never round-tripped.
    let text = text.split(" m=").next().unwrap_or(text);
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Reads whole tables of garm's database.
pub(crate) struct Reader<'a> {
    pub conn: &'a mut AnyConnection,
    pub kind: SourceKind,
    /// Tables that exist (garm's schema changed over versions; old databases lack some).
    pub tables: Vec<String>,
}

impl<'a> Reader<'a> {
    pub async fn new(conn: &'a mut AnyConnection, kind: SourceKind) -> Result<Reader<'a>, ImportError> {
        let sql = match kind {
            SourceKind::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
            SourceKind::Postgres => {
                "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            }
        };
        let rows = sqlx::query(sql)
            .fetch_all(&mut *conn)
            .await
            .map_err(ImportError::Source)?;
        let tables = rows
            .iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ImportError::Source)?;
        for needed in [
            "controller_infos",
            "users",
            "github_endpoints",
            "github_credentials",
            "pools",
            "instances",
        ] {
            if !tables.iter().any(|t| t == needed) {
                return Err(ImportError::NotGarm {
                    missing: needed.to_string(),
                });
            }
        }
        Ok(Self { conn, kind, tables })
    }

    pub fn has(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t == table)
    }

    /// Every row of `table` with the given columns (an absent table has none), in `order`.
    pub async fn rows(&mut self, table: &str, cols: &[Col], order: &str) -> Result<Vec<GarmRow>, ImportError> {
        if !self.has(table) {
            return Ok(Vec::new());
        }
        let present = self.columns(table).await?;
        let list: Vec<String> = cols.iter().map(|c| c.sql(self.kind, &present)).collect();
        // garm soft-deleted rows in old releases; a deleted row is not carried.
        let live = if self.has_deleted_at(table) {
            " WHERE deleted_at IS NULL"
        } else {
            ""
        };
        let sql = format!("SELECT {} FROM {table}{live} ORDER BY {order}", list.join(", "));
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(ImportError::Source)?;
        Ok(rows.into_iter().map(|row| GarmRow { row }).collect())
    }

    fn has_deleted_at(&self, table: &str) -> bool {
        !matches!(table, "pool_tags" | "scaleset_tags" | "migrations")
    }

    /// The column names of `table`.
    async fn columns(&mut self, table: &str) -> Result<Vec<String>, ImportError> {
        let query = match self.kind {
            SourceKind::Sqlite => sqlx::query("SELECT name FROM pragma_table_info($1)"),
            SourceKind::Postgres => sqlx::query(
                "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
            ),
        };
        let rows = query
            .bind(table)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(ImportError::Source)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ImportError::Source)
    }

    /// `SELECT COUNT(*)` of a table, 0 if it does not exist.
    pub async fn count(&mut self, table: &str) -> Result<i64, ImportError> {
        if !self.has(table) {
            return Ok(0);
        }
        sqlx::query(&format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"))
            .fetch_one(&mut *self.conn)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(ImportError::Source)
    }

    /// Tag names of each pool (or scale set), in the order garm lists them.
    pub async fn tags_of(
        &mut self,
        link: &str,
        owner_col: &str,
    ) -> Result<HashMap<String, Vec<(String, String)>>, ImportError> {
        if !self.has(link) {
            return Ok(HashMap::new());
        }
        // garm lists a pool's tags in the order the tags were first made.
        let sql = format!(
            "SELECT CAST(l.{owner_col} AS TEXT) AS owner, CAST(t.id AS TEXT) AS id, CAST(t.name AS TEXT) AS name FROM {link} l JOIN tags t ON t.id = l.tag_id ORDER BY t.created_at, t.name"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(ImportError::Source)?;
        let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for row in rows {
            let get = |c: &str| row.try_get::<String, _>(c).map_err(ImportError::Source);
            out.entry(get("owner")?).or_default().push((get("id")?, get("name")?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_both_backends_print_them_parse() {
        let sqlite = parse_time("2026-12-07 00:07:37.898311097+00:00").unwrap();
        assert_eq!(sqlite.to_rfc3339(), "2026-12-07T00:07:37.898311+00:00");
        let cut = parse_time("2026-12-07 00:07:41.446536518+00:00").unwrap();
        assert_eq!(cut.to_rfc3339(), "2026-12-07T00:07:41.446536+00:00", "cut, not rounded");
        let pg = parse_time("2026-12-07 02:07:37.898311+02").unwrap();
        assert_eq!(pg.to_rfc3339(), "2026-12-07T00:07:37.898311+00:00");
        assert_eq!(parse_time("0001-01-01 00:00:00+00:00").unwrap(), zero_time());
        assert!(parse_time("yesterday").is_none());
    }
}
