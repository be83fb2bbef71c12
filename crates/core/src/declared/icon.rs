//! An action's `icon`: inline SVG, a `data:` URI or an .svg / .png file next to the actions file,
//! resolved to the data URI Looker shows; bytes that are not the image they claim are refused.

use std::path::Path;

use base64::Engine;

/// Largest icon read (a file, or a data URI's decoded bytes).
pub const MAX_ICON_BYTES: usize = 64 * 1024;

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// What to write instead of a refused icon.
const INSTEAD: &str = "write an .svg / .png file name (relative to the actions file's folder), inline `<svg …>…</svg>` markup, or a `data:image/png;base64,…` / `data:image/svg+xml;base64,…` URI";

/// How an `icon` value gives the icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec<'a> {
    /// SVG markup written in the actions file (without surrounding whitespace and byte-order mark).
    Inline(&'a str),
    /// A `data:` URI.
    DataUri(&'a str),
    /// Anything else: a file name relative to the actions file's folder.
    File(&'a str),
}

/// The one rule telling the kinds of `icon` values apart (the check and the generator both use
/// it): markup is whatever starts with `<` once whitespace and a byte-order mark are skipped —
/// `<svg`, an XML prolog `<?xml`, a comment `<!--`, a doctype — since no icon file name does.
pub fn spec(value: &str) -> Spec<'_> {
    let t = value.trim().trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('<') {
        Spec::Inline(t)
    } else if t.starts_with("data:") {
        Spec::DataUri(t)
    } else {
        Spec::File(t)
    }
}

/// The `data:` URI of the icon `value` (files are read relative to `base_dir`).
pub fn resolve(value: &str, base_dir: Option<&Path>) -> Result<String, String> {
    let spec = match spec(value) {
        Spec::Inline(markup) => {
            return match svg_problem(markup) {
                None => Ok(crate::actions::svg_icon(markup)),
                Some(p) => Err(format!("icon: inline SVG {p}")),
            }
        }
        Spec::DataUri(uri) => return data_uri(uri, &uri["data:".len()..]),
        Spec::File(name) => name,
    };
    if spec.contains("://") {
        return Err(format!(
            "icon {spec:?}: a URL is not supported: save the icon next to the actions file and name the file (e.g. `icon: icons/my_action.svg`), or inline it"
        ));
    }
    let Some(base) = base_dir else {
        return Err("icon: write inline `<svg ...>` markup or a `data:image/...` URI (no file to resolve a path against)".into());
    };
    let rel = std::path::Path::new(spec);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "icon {spec:?}: an icon file is named from the actions file's folder, inside it (e.g. `icon: icons/my_action.svg`), or {INSTEAD}"
        ));
    }
    let path = base.join(spec);
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => {
            return Err(format!(
                "icon {spec:?}: an icon file must be .svg or .png; {INSTEAD}"
            ))
        }
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "icon {spec:?}: there is no file {}: save the icon there, or {INSTEAD}",
                path.display()
            ))
        }
        Err(e) => return Err(format!("icon {}: {e}", path.display())),
    };
    if meta.len() > MAX_ICON_BYTES as u64 {
        return Err(format!(
            "icon {}: {} bytes; the limit is {MAX_ICON_BYTES}",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("icon {}: {e}", path.display()))?;
    if let Some(p) = content_problem(mime, &bytes) {
        return Err(format!("icon {spec:?}: the file {p}"));
    }
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// A `data:` URI (`rest` follows `data:`), checked: PNG or SVG, base64, the bytes it claims.
fn data_uri(spec: &str, rest: &str) -> Result<String, String> {
    let shown: String = spec.chars().take(40).collect();
    let Some((mime, payload)) = rest.split_once(";base64,") else {
        return Err(format!(
            "icon {shown:?}…: a data URI must be `data:image/png;base64,…` or `data:image/svg+xml;base64,…`"
        ));
    };
    if mime != "image/png" && mime != "image/svg+xml" {
        return Err(format!(
            "icon: a data URI of type {mime:?} is not supported: Looker shows image/png or image/svg+xml; write `data:image/png;base64,…` or `data:image/svg+xml;base64,…`"
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|e| {
            format!("icon: the data URI's payload is not valid base64 ({e}): write the image's bytes in standard base64 (e.g. `base64 -w0 icon.png`)")
        })?;
    if bytes.len() > MAX_ICON_BYTES {
        return Err(format!(
            "icon: the data URI holds {} bytes; the limit is {MAX_ICON_BYTES}",
            bytes.len()
        ));
    }
    if let Some(p) = content_problem(mime, &bytes) {
        return Err(format!("icon: the data URI's image {p}"));
    }
    Ok(spec.to_string())
}

/// Why `bytes` are not an image of type `mime`, if they are not.
fn content_problem(mime: &str, bytes: &[u8]) -> Option<String> {
    if mime == "image/png" {
        return (!bytes.starts_with(PNG_SIGNATURE))
            .then(|| "is not a PNG (it does not start with the PNG signature): save the image as PNG, or use an .svg".to_string());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => svg_problem(text),
        Err(_) => Some("is not SVG (it is not UTF-8 text)".into()),
    }
}

/// Why `text` is not a complete SVG document, if it is not: after an optional XML prolog,
/// comments and doctype it starts with `<svg` and it ends with `</svg>` (a light check).
fn svg_problem(text: &str) -> Option<String> {
    let mut t = text.trim_start_matches('\u{feff}').trim();
    loop {
        let (open, close) = if t.starts_with("<?") {
            ("<?", "?>")
        } else if t.starts_with("<!--") {
            ("<!--", "-->")
        } else if t.starts_with("<!") {
            ("<!", ">")
        } else {
            break;
        };
        match t[open.len()..].find(close) {
            Some(i) => t = t[open.len() + i + close.len()..].trim_start(),
            None => break,
        }
    }
    let opens = t
        .strip_prefix("<svg")
        .is_some_and(|r| r.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/'));
    // `<svg …/>` is complete too (an empty image).
    let closes = t.ends_with("</svg>") || (t.ends_with("/>") && !t[1..].contains('<'));
    (!opens || !closes).then(|| {
        "is not a complete SVG document: write `<svg xmlns=\"http://www.w3.org/2000/svg\" …>…</svg>` (an XML prolog and comments before it are fine)".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>"#;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn markup_is_what_starts_with_a_tag_after_whitespace_and_a_byte_order_mark() {
        for markup in [
            SVG,
            "<?xml version=\"1.0\"?><svg/>",
            "<!-- mine --><svg/>",
            "<!DOCTYPE svg><svg/>",
            "\n  <svg/>\n",
            "\u{feff}<svg/>",
            " \u{feff} <?xml version=\"1.0\"?><svg/>",
        ] {
            assert!(
                matches!(spec(markup), Spec::Inline(t) if t.starts_with('<')),
                "{markup:?}"
            );
        }
        assert_eq!(
            spec(" data:image/png;base64,AA"),
            Spec::DataUri("data:image/png;base64,AA")
        );
        assert_eq!(spec(" icons/a.svg "), Spec::File("icons/a.svg"));
        assert_eq!(spec("a<b.svg"), Spec::File("a<b.svg"));
    }

    #[test]
    fn icons_that_are_not_the_image_they_claim_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = Some(dir.path());
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend_from_slice(b"\0\0\0\rIHDR");
        std::fs::write(dir.path().join("ok.png"), &png).unwrap();
        std::fs::write(dir.path().join("fake.png"), "not png").unwrap();
        std::fs::write(
            dir.path().join("ok.svg"),
            format!("<?xml version=\"1.0\"?>\n<!-- mine -->\n{SVG}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("half.svg"), "<svg").unwrap();
        std::fs::write(dir.path().join("html.svg"), "<b>x</b>").unwrap();

        // Accepted.
        assert!(resolve("ok.png", base)
            .unwrap()
            .starts_with("data:image/png;base64,"));
        assert!(resolve("ok.svg", base)
            .unwrap()
            .starts_with("data:image/svg+xml;base64,"));
        assert!(resolve(SVG, None).is_ok());
        assert!(resolve(&format!("<?xml version=\"1.0\"?>{SVG}"), None).is_ok());
        let png_uri = format!("data:image/png;base64,{}", b64(&png));
        assert_eq!(resolve(&png_uri, None).unwrap(), png_uri);
        let svg_uri = format!("data:image/svg+xml;base64,{}", b64(SVG.as_bytes()));
        assert_eq!(resolve(&svg_uri, None).unwrap(), svg_uri);

        // Refused, each with its reason.
        let err = |spec: &str| resolve(spec, base).unwrap_err();
        assert!(
            err("fake.png").contains("is not a PNG"),
            "{}",
            err("fake.png")
        );
        assert!(err("half.svg").contains("not a complete SVG"));
        assert!(err("html.svg").contains("not a complete SVG"));
        assert!(err("<svg").contains("inline SVG is not a complete SVG"));
        assert!(err("<svgx></svg>").contains("not a complete SVG"));
        assert!(err("<svg/><b>").contains("not a complete SVG"));
        assert!(resolve("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", None).is_ok());
        assert!(err("data:image/png;base64,@@@").contains("not valid base64"));
        assert!(err(&format!("data:image/png;base64,{}", b64(b"not png"))).contains("is not a PNG"));
        assert!(err(&format!("data:image/svg+xml;base64,{}", b64(b"<svg")))
            .contains("not a complete SVG"));
        assert!(err("data:image/gif;base64,R0lGODlh").contains("not supported"));
        assert!(err("data:text/html,<b>x</b>").contains("must be `data:image/png;base64,"));
        for outside in ["/etc/x.png", "../x.png", "icons/../../x.svg"] {
            assert!(
                err(outside)
                    .contains("an icon file is named from the actions file's folder, inside it"),
                "{outside}: {}",
                err(outside)
            );
        }
        let url = err("https://example.com/i.png");
        assert!(
            url.contains("a URL is not supported: save the icon next to the actions file"),
            "{url}"
        );
        let missing = err("icons/missing.svg");
        assert!(
            missing.contains("there is no file")
                && missing.contains("save the icon there, or write"),
            "{missing}"
        );
        assert!(!missing.contains("os error"), "{missing}");
        assert!(err("x.gif").contains("must be .svg or .png"));
    }
}
