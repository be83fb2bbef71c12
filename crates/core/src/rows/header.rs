//! What precedes a result's rows: when the query ran and its fields (names, labels, tags, kind).

use serde::Deserialize;

use crate::api::null_as_default;

/// Kind of a result field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldCategory {
    /// A dimension.
    Dimension,
    /// A measure.
    Measure,
    /// A table calculation.
    TableCalculation,
}

/// Metadata of one field of the result.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldMeta {
    /// `view.field`.
    pub name: String,
    /// Label (as shown in Looker).
    #[serde(default)]
    pub label: Option<String>,
    /// LookML tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Whether the field is hidden in LookML.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hidden: bool,
    /// Dimension / measure / table calculation.
    #[serde(skip, default = "default_category")]
    pub category: FieldCategory,
}

fn default_category() -> FieldCategory {
    FieldCategory::Dimension
}

impl FieldMeta {
    /// Whether the field carries a tag.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// The `fields` object of a result document, as Looker writes it (read by `fields`).
#[derive(Default)]
pub(super) struct RawFields {
    dimensions: Vec<FieldMeta>,
    measures: Vec<FieldMeta>,
    table_calculations: Vec<FieldMeta>,
    pivots: Vec<FieldMeta>,
}

impl RawFields {
    /// List `i` in the order `dimensions`, `measures`, `table_calculations`, `pivots`.
    pub(super) fn list_mut(&mut self, i: usize) -> &mut Vec<FieldMeta> {
        match i {
            0 => &mut self.dimensions,
            1 => &mut self.measures,
            2 => &mut self.table_calculations,
            _ => &mut self.pivots,
        }
    }
}

/// What precedes the rows: when the query ran and its fields.
#[derive(Debug, Clone, Default)]
pub struct ResultHeader {
    /// `ran_at` of the result, as Looker wrote it.
    pub ran_at: Option<String>,
    /// Dimensions, measures and table calculations in result order.
    pub fields: Vec<FieldMeta>,
    /// Pivot fields (their values are the keys of pivoted measures).
    pub pivots: Vec<FieldMeta>,
}

impl ResultHeader {
    /// The header of a document's `ran_at` and `fields`: dimensions, measures and table
    /// calculations in that order, each with its category.
    pub(super) fn new(ran_at: Option<String>, raw: RawFields) -> ResultHeader {
        let mut fields = Vec::with_capacity(
            raw.dimensions.len() + raw.measures.len() + raw.table_calculations.len(),
        );
        for (list, cat) in [
            (raw.dimensions, FieldCategory::Dimension),
            (raw.measures, FieldCategory::Measure),
            (raw.table_calculations, FieldCategory::TableCalculation),
        ] {
            fields.extend(list.into_iter().map(|mut f| {
                f.category = cat;
                f
            }));
        }
        ResultHeader {
            ran_at,
            fields,
            pivots: raw.pivots,
        }
    }

    /// The first field with a tag.
    pub fn field_with_tag(&self, tag: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.has_tag(tag))
    }
}
