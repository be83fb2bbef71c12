//! The one table of every HTTP route the hub serves. The API Gateway spec, the Apigee bundle and
//! terraform name exactly these paths (checked by a test).

/// One deployable function (Cloud Run service) of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `POST /` and `POST /actions/{name}`: the list of integrations and one definition.
    ActionsList,
    /// `POST /actions/{name}/form` and `POST /actions/{name}/oauth_token` (OAuth v2: Looker's
    /// code exchange), the hub-token calls of a login, so the browser-facing callback never holds
    /// the hub token.
    ActionForm,
    /// `POST /actions/{name}/execute`.
    ActionExecute,
    /// `GET /actions/{name}/oauth`: start a user's login.
    OauthInitiate,
    /// `GET /oauth_redirect` (the one redirect URI registered with the OAuth client) and the older
    /// `GET /actions/{name}/oauth_redirect`: browser-facing, without the hub token.
    OauthCallback,
}

impl Function {
    /// Every function, in the order of the route table (what the all-in-one `hub` serves).
    pub const ALL: &'static [Function] = &[
        Function::ActionsList,
        Function::ActionForm,
        Function::ActionExecute,
        Function::OauthInitiate,
        Function::OauthCallback,
    ];

    /// The binary / Cloud Run service name of this function.
    pub fn service_name(self) -> &'static str {
        match self {
            Function::ActionsList => "actions_list",
            Function::ActionForm => "action_form",
            Function::ActionExecute => "action_execute",
            Function::OauthInitiate => "oauth_initiate",
            Function::OauthCallback => "oauth_callback",
        }
    }
}

/// HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET (browser-facing OAuth routes).
    Get,
    /// POST (everything Looker calls).
    Post,
}

/// Which handler answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// List of integrations.
    List,
    /// One integration's definition.
    Definition,
    /// An action's form.
    Form,
    /// Run an action.
    Execute,
    /// Redirect the browser to the OAuth provider.
    OauthInitiate,
    /// The provider's redirect back to the hub: `GET /oauth_redirect`, one URL for every action
    /// (the action travels inside the sealed state).
    OauthRedirect,
    /// The same, on the per-action path earlier versions registered
    /// (`GET /actions/{name}/oauth_redirect`); kept for OAuth clients that list it.
    OauthRedirectPerAction,
    /// OAuth v2: Looker exchanges the code through the hub.
    OauthToken,
}

/// One route: the function that owns it, its method, its path (actix syntax) and its handler.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The function (service) that serves it.
    pub function: Function,
    /// HTTP method.
    pub method: Method,
    /// Path with `{name}` for the action name.
    pub path: &'static str,
    /// Which handler answers.
    pub handler: Handler,
    /// Whether Looker's hub token is required (browser-facing OAuth routes carry no token).
    pub needs_hub_token: bool,
}

/// The single source of the hub's paths.
pub const ROUTES: &[Route] = &[
    Route {
        function: Function::ActionsList,
        method: Method::Post,
        path: "/",
        handler: Handler::List,
        needs_hub_token: true,
    },
    Route {
        function: Function::ActionsList,
        method: Method::Post,
        path: "/actions/{name}",
        handler: Handler::Definition,
        needs_hub_token: true,
    },
    Route {
        function: Function::ActionForm,
        method: Method::Post,
        path: "/actions/{name}/form",
        handler: Handler::Form,
        needs_hub_token: true,
    },
    Route {
        function: Function::ActionForm,
        method: Method::Post,
        path: "/actions/{name}/oauth_token",
        handler: Handler::OauthToken,
        needs_hub_token: true,
    },
    Route {
        function: Function::ActionExecute,
        method: Method::Post,
        path: "/actions/{name}/execute",
        handler: Handler::Execute,
        needs_hub_token: true,
    },
    Route {
        function: Function::OauthInitiate,
        method: Method::Get,
        path: "/actions/{name}/oauth",
        handler: Handler::OauthInitiate,
        needs_hub_token: false,
    },
    Route {
        function: Function::OauthCallback,
        method: Method::Get,
        path: OAUTH_REDIRECT_PATH,
        handler: Handler::OauthRedirect,
        needs_hub_token: false,
    },
    Route {
        function: Function::OauthCallback,
        method: Method::Get,
        path: "/actions/{name}/oauth_redirect",
        handler: Handler::OauthRedirectPerAction,
        needs_hub_token: false,
    },
];

/// The hub-wide OAuth callback: the one redirect URI an admin registers with the OAuth client
/// (`{HUB_PUBLIC_URL}/oauth_redirect`).
pub const OAUTH_REDIRECT_PATH: &str = "/oauth_redirect";

/// Health check path, served by every binary (not routed through the gateway).
pub const HEALTH_PATH: &str = "/healthz";

/// The same health check for callers outside the instance (Cloud Monitoring's uptime checks):
/// Cloud Run's front end reserves some paths ending in `z`, so `/healthz` answers only the
/// probes, which reach the container directly.
pub const UPTIME_PATH: &str = "/health";

/// The routes one function serves.
pub fn routes_of(function: Function) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.function == function)
}

/// Fill `{name}` in a route path.
pub fn path_for(handler: Handler, action: &str) -> String {
    let route = ROUTES
        .iter()
        .find(|r| r.handler == handler)
        .expect("every handler has a route");
    route.path.replace("{name}", action)
}

/// The hub's public base URL (`HUB_PUBLIC_URL`): an absolute http(s) URL, possibly with a path
/// prefix, without query, fragment or user info. Every URL the hub hands out is `{base}{path}`,
/// the base written without trailing slash, so `https://hub.example/base/` and
/// `https://hub.example/base` give the same URLs. Reads as that base text (`&str`, `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl {
    url: url::Url,
    /// `url` without its trailing slash(es), built once.
    base: String,
}

/// Why a text is not a usable public base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    /// Not an absolute URL.
    #[error("not an absolute URL ({0}); write the address Looker and browsers reach the hub at, like https://hub.example.com or https://gateway.example.com/hub")]
    NotAUrl(url::ParseError),
    /// Not http(s).
    #[error("must be an http(s) URL")]
    NotHttp,
    /// A query, fragment or user info, which no route URL can carry after it.
    #[error(
        "must be a base URL without query, fragment or user info (route paths are appended to it)"
    )]
    NotABase,
}

impl PublicUrl {
    /// Parse a public base URL (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<PublicUrl, PublicUrlError> {
        let url = url::Url::parse(text.trim()).map_err(PublicUrlError::NotAUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PublicUrlError::NotHttp);
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(PublicUrlError::NotABase);
        }
        let base = url.as_str().trim_end_matches('/').to_string();
        Ok(PublicUrl { url, base })
    }

    /// The URL as parsed.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The base every URL of the hub starts with (no trailing slash).
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// `{base}{path}` for a path starting with `/`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The public URL of a route of an action (`{base}/actions/{name}/form`, ...).
    pub fn route(&self, handler: Handler, action: &str) -> String {
        self.at(&path_for(handler, action))
    }
}

impl std::ops::Deref for PublicUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.base
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl std::fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PublicUrl").field(&self.base).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_give_route_urls_with_or_without_a_path_prefix_and_trailing_slash() {
        for (text, base) in [
            ("https://hub.example.com", "https://hub.example.com"),
            ("https://hub.example.com/", "https://hub.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://gw.example.com/hub", "https://gw.example.com/hub"),
            ("https://gw.example.com/hub/", "https://gw.example.com/hub"),
            (
                "https://gw.example.com/a/hub//",
                "https://gw.example.com/a/hub",
            ),
            (" https://hub.example.com/ ", "https://hub.example.com"),
        ] {
            let u = PublicUrl::parse(text).unwrap();
            assert_eq!(u.as_str(), base, "{text}");
            assert_eq!(u.to_string(), base, "{text}");
            assert_eq!(
                u.route(Handler::Form, "mark_suspicious"),
                format!("{base}/actions/mark_suspicious/form"),
                "{text}"
            );
            assert_eq!(u.at(OAUTH_REDIRECT_PATH), format!("{base}/oauth_redirect"));
        }
    }

    #[test]
    fn what_is_not_a_public_base_url_is_refused_with_the_reason() {
        for (text, want) in [
            (
                "",
                PublicUrlError::NotAUrl(url::ParseError::RelativeUrlWithoutBase),
            ),
            (
                "hub.example.com",
                PublicUrlError::NotAUrl(url::ParseError::RelativeUrlWithoutBase),
            ),
            (
                "https://",
                PublicUrlError::NotAUrl(url::ParseError::EmptyHost),
            ),
            ("ftp://hub.example.com", PublicUrlError::NotHttp),
            ("mailto:hub@example.com", PublicUrlError::NotHttp),
            ("https://hub.example.com/?x=1", PublicUrlError::NotABase),
            ("https://hub.example.com/#top", PublicUrlError::NotABase),
            ("https://user:pw@hub.example.com", PublicUrlError::NotABase),
        ] {
            assert_eq!(PublicUrl::parse(text), Err(want), "{text:?}");
        }
        assert_eq!(
            PublicUrl::parse("hub.example.com").unwrap_err().to_string(),
            "not an absolute URL (relative URL without a base); write the address Looker and \
             browsers reach the hub at, like https://hub.example.com or \
             https://gateway.example.com/hub"
        );
    }
}
