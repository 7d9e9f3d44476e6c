//! What a read returns of a stored row: TTL and the table's max versions hide old
//! data, then the request's time range, max versions, column selection, column
//! range, filter and column pagination shape the result.
//!
//! Invariant: a row whose columns have all expired is absent; a row stored with no
//! columns (a PK-only put) exists.

use tablesafe_proto::model::{Cell, Filter, PrimaryKey, ReadOptions, Row, TableOptions, TimeRange, Value};

use crate::error::EngineError;
use crate::filter::{ColumnView, CompiledFilter};
use crate::stored::{StoredColumn, StoredRow, StoredVersion};

/// What the table hides at a given time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visibility {
    /// Versions older than this (ms) are expired; `i64::MIN` when TTL is off.
    pub oldest_visible: i64,
    /// Versions kept per column.
    pub max_versions: usize,
}

impl Visibility {
    pub(crate) fn new(options: &TableOptions, now_ms: i64) -> Self {
        let oldest_visible = if options.time_to_live > 0 {
            now_ms.saturating_sub(i64::from(options.time_to_live).saturating_mul(1000))
        } else {
            i64::MIN
        };
        Visibility { oldest_visible, max_versions: usize::try_from(options.max_versions.max(1)).unwrap_or(1) }
    }

    /// The versions of a column the table still shows, newest first.
    pub(crate) fn versions<'a>(&self, column: &'a StoredColumn) -> impl Iterator<Item = &'a StoredVersion> + 'a {
        self.visible(&column.versions, |v| v.timestamp)
    }

    /// Of versions stored newest first (owned or borrowed), those the table still shows.
    pub(crate) fn visible<'a, V>(
        &self,
        versions: &'a [V],
        timestamp: impl Fn(&V) -> i64 + 'a,
    ) -> impl Iterator<Item = &'a V> + 'a {
        let oldest = self.oldest_visible;
        versions.iter().filter(move |v| timestamp(v) >= oldest).take(self.max_versions)
    }

    /// Whether the row exists for readers and conditions.
    pub(crate) fn row_exists(&self, row: &StoredRow) -> bool {
        row.columns.is_empty() || row.columns.iter().any(|c| self.versions(c).next().is_some())
    }

    /// Data size of the visible versions (name and value each), as reads count it.
    pub(crate) fn visible_bytes(&self, row: &StoredRow) -> usize {
        row.columns.iter().map(|c| self.versions(c).map(|v| c.name.len() + v.value.data_size()).sum::<usize>()).sum()
    }

    /// Drops what the table no longer shows, so that writes reclaim space.
    pub(crate) fn prune(&self, row: &mut StoredRow) {
        for column in &mut row.columns {
            let oldest = self.oldest_visible;
            column.versions.retain(|v| v.timestamp >= oldest);
            column.versions.truncate(self.max_versions);
        }
        row.drop_empty_columns();
    }

    /// The visible columns as filters see them.
    pub(crate) fn column_views<'a>(&self, row: &'a StoredRow) -> Vec<ColumnView<'a>> {
        row.columns
            .iter()
            .map(|c| ColumnView { name: &c.name, values: self.versions(c).map(|v| &v.value).collect() })
            .filter(|c| !c.values.is_empty())
            .collect()
    }
}

/// A validated read request, ready to apply to many rows.
#[derive(Debug)]
pub(crate) struct Projection {
    options: ReadOptions,
    filter: Option<CompiledFilter>,
    pagination: Option<(usize, usize)>,
    attribute_names: Vec<String>,
    key_only: bool,
}

impl Projection {
    pub(crate) fn new(options: &ReadOptions, pk_names: &[&str]) -> Result<Projection, EngineError> {
        if options.max_versions.is_none() && options.time_range.is_none() {
            return Err(EngineError::invalid("No version condition is specified while querying row."));
        }
        if let Some(max) = options.max_versions {
            if max <= 0 {
                return Err(EngineError::invalid("MaxVersions must be greater than 0."));
            }
        }
        if let Some(TimeRange::Range { start, end }) = options.time_range {
            if start < 0 || end <= start {
                return Err(EngineError::invalid("Invalid time range: start time must be less than end time."));
            }
        }
        if options.columns_to_get.len() > 128 {
            return Err(EngineError::invalid("The number of columns to get exceeds the limit 128."));
        }
        let filter = options.filter.as_ref().map(CompiledFilter::compile).transpose()?;
        let pagination = match &options.filter {
            Some(Filter::ColumnPagination { offset, limit }) => {
                let offset = usize::try_from(*offset)
                    .map_err(|_| EngineError::invalid("The offset of column pagination must not be negative."))?;
                let limit = usize::try_from(*limit)
                    .map_err(|_| EngineError::invalid("The limit of column pagination must be positive."))?;
                Some((offset, limit))
            }
            _ => None,
        };
        let attribute_names: Vec<String> =
            options.columns_to_get.iter().filter(|n| !pk_names.contains(&n.as_str())).cloned().collect();
        let key_only = !options.columns_to_get.is_empty() && attribute_names.is_empty();
        Ok(Projection { options: options.clone(), filter, pagination, attribute_names, key_only })
    }

    fn version_selected(&self, version: &StoredVersion) -> bool {
        match self.options.time_range {
            Some(TimeRange::Range { start, end }) => version.timestamp >= start && version.timestamp < end,
            Some(TimeRange::Specific(ts)) => version.timestamp == ts,
            None => true,
        }
    }

    fn column_selected(&self, name: &str) -> bool {
        if self.key_only {
            return false;
        }
        if !self.attribute_names.is_empty() && !self.attribute_names.iter().any(|n| n == name) {
            return false;
        }
        if let Some(start) = &self.options.start_column {
            if name.as_bytes() < start.as_bytes() {
                return false;
            }
        }
        if let Some(end) = &self.options.end_column {
            if name.as_bytes() >= end.as_bytes() {
                return false;
            }
        }
        true
    }

    /// The row as the reader sees it, or `None` when it is absent or filtered out.
    pub(crate) fn apply(&self, pk: PrimaryKey, row: &StoredRow, visibility: &Visibility) -> Option<Row> {
        if !visibility.row_exists(row) {
            return None;
        }
        // Filters judge the row by every visible version (latest_version_only=false
        // may match an older version than the read returns), so they run before the
        // read's own version selection; rejected rows cost no projection work.
        if let Some(filter) = &self.filter {
            if !filter.matches(&visibility.column_views(row)) {
                return None;
            }
        }
        let max_versions = self.options.max_versions.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(1));
        let selected: Vec<(&str, Vec<&StoredVersion>)> = row
            .columns
            .iter()
            .map(|c| {
                let versions: Vec<&StoredVersion> =
                    visibility.versions(c).filter(|v| self.version_selected(v)).take(max_versions).collect();
                (c.name.as_str(), versions)
            })
            .filter(|(_, versions)| !versions.is_empty())
            .collect();
        let mut columns: Vec<&(&str, Vec<&StoredVersion>)> =
            selected.iter().filter(|(name, _)| self.column_selected(name)).collect();
        if let Some((offset, limit)) = self.pagination {
            columns = columns.into_iter().skip(offset).take(limit).collect();
        }
        if !self.attribute_names.is_empty() && columns.is_empty() {
            return None;
        }
        let cells = columns
            .into_iter()
            .flat_map(|(name, versions)| {
                versions.iter().map(move |v| Cell::version(*name, v.value.clone(), v.timestamp))
            })
            .collect();
        Some(Row { primary_key: pk, cells, delete_marker: false, seq_info: None })
    }
}

/// The latest visible value of a column, for increments and RT_AFTER_MODIFY.
pub(crate) fn latest_value<'a>(row: &'a StoredRow, name: &str, visibility: &Visibility) -> Option<&'a Value> {
    row.column(name).and_then(|c| visibility.versions(c).next()).map(|v| &v.value)
}
