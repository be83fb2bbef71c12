//! The actions file as it is deployed: one file, its icon files inlined.

use super::super::model::Catalog;

/// The most one Secret Manager version holds, in bytes: the deployed actions file is mounted from
/// one (terraform/actions.tf and scripts/deploy.sh check the same number, in bytes too).
pub const DEPLOYABLE_MAX_BYTES: usize = 65536;

/// The actions file as it is deployed (one file, no folder next to it): `text` with every icon
/// given as a file path replaced by its data URI, everything else byte for byte. `file` is `text`
/// loaded (its icons resolved). Refused over [`DEPLOYABLE_MAX_BYTES`] (UTF-8 bytes, not characters).
pub fn deployable_file(text: &str, file: &Catalog) -> Result<String, String> {
    let mut edits: Vec<(usize, usize, String)> = vec![];
    for def in &file.actions {
        let Some((start, len)) = def.icon_file_span else {
            continue;
        };
        let Some(uri) = def.icon_data_uri.as_deref() else {
            return Err(format!(
                "line {}: cannot inline the icon file of action {:?}",
                def.line, def.name
            ));
        };
        // A data URI holds no quote: single-quoted, it is the same string to any YAML reader.
        edits.push((start, len, format!("'{uri}'")));
    }
    let mut out = text.to_string();
    for (start, len, with) in edits.into_iter().rev() {
        if out.get(start..start + len).is_none() {
            return Err("cannot inline an icon file (unexpected position)".into());
        }
        out.replace_range(start..start + len, &with);
    }
    if out.len() > DEPLOYABLE_MAX_BYTES {
        return Err(format!(
            "with its icons inlined it is {} bytes; Secret Manager, which Cloud Run mounts it from, holds at most {DEPLOYABLE_MAX_BYTES}: use smaller icons (or shorter texts)",
            out.len()
        ));
    }
    Ok(out)
}
