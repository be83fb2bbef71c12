//! The small HTML pages a user's browser sees during a login, and the hub's redirects.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// Escape text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with a title and one message (both plain text, escaped here).
pub(crate) fn page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let (title, message) = (escape(title), escape(message));
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#202124}}\
h1{{font-size:1.4rem}}p{{line-height:1.5}}</style></head>\
<body><h1>{title}</h1><p>{message}</p></body></html>"
    );
    with_safety_headers(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// A 302 to `location`.
pub(crate) fn redirect(location: &str) -> HttpResponse {
    with_safety_headers(HttpResponse::Found())
        .insert_header(("Location", location))
        .finish()
}

/// Login pages carry codes and state in their URLs: never cache them, never leak them as Referer.
fn with_safety_headers(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
