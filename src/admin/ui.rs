//! The web console's assets (`docs/console.md`): plain HTML, JavaScript and CSS embedded in the
//! binary, served at `/ui` with no build step and nothing fetched from elsewhere.

use super::http::Response;

/// The files under `src/admin/ui/`, by name, with their content types.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("ui/index.html")),
    ("app.js", "application/javascript; charset=utf-8", include_str!("ui/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("ui/style.css")),
];

/// `GET /ui/{name}`: the asset, or 404.
pub fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            Response { status: 200, content_type, body: body.as_bytes().to_vec(), challenge: None }
        }
        None => Response::error(404, format!("no console asset {name:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_each_asset_with_its_content_type_and_refuses_others() {
        let page = asset("index.html");
        assert_eq!((page.status, page.content_type), (200, "text/html; charset=utf-8"));
        let page = String::from_utf8(page.body).unwrap();
        assert!(page.contains("/ui/app.js") && page.contains("/ui/style.css"), "{page}");
        assert_eq!(asset("app.js").content_type, "application/javascript; charset=utf-8");
        assert_eq!(asset("style.css").content_type, "text/css; charset=utf-8");
        for bad in ["", "..", "../mod.rs", "ui.rs", "index.html%00"] {
            assert_eq!(asset(bad).status, 404, "{bad}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for (name, _, body) in ASSETS {
            for outside in ["http://", "https://", "//cdn", "@import"] {
                assert!(!body.contains(outside), "{name} refers to {outside}");
            }
        }
    }
}
