//! The one table of every HTTP route the hub serves. The API Gateway spec, the Apigee bundle and
//! terraform name exactly these paths (checked by a test).

/// One deployable function (Cloud Run service) of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `POST /` and `POST /actions/{name}`: the list of integrations and one definition.
    ActionsList,
    /// `POST /actions/{name}/form`.
    ActionForm,
    /// `POST /actions/{name}/execute`.
    ActionExecute,
    /// `GET /actions/{name}/oauth`: start a user's login.
    OauthInitiate,
    /// `GET /oauth_redirect` (the one redirect URI registered with the OAuth client), the older
    /// `GET /actions/{name}/oauth_redirect` and `POST /actions/{name}/oauth_token`.
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
    Route {
        function: Function::OauthCallback,
        method: Method::Post,
        path: "/actions/{name}/oauth_token",
        handler: Handler::OauthToken,
        needs_hub_token: true,
    },
];

/// The hub-wide OAuth callback: the one redirect URI an admin registers with the OAuth client
/// (`{HUB_PUBLIC_URL}/oauth_redirect`).
pub const OAUTH_REDIRECT_PATH: &str = "/oauth_redirect";

/// Health check path, served by every binary (not routed through the gateway).
pub const HEALTH_PATH: &str = "/healthz";

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
