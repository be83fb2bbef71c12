// A strict OAuth2 authorization server for the hub's tests, built on oauth2-mock-server 8.x.
//
// oauth2-mock-server on its own accepts any code, any client secret and any refresh token. Its
// hooks (beforeAuthorizeRedirect, beforeTokenSigning, beforeResponse, beforeUserinfo)
// are used here to make it behave like a real provider (Google) so negative tests are real:
//   - clients are registered (id + secret [+ redirect URIs]); unknown client at /authorize -> 400 page
//   - codes are issued at /authorize, bound to client, redirect_uri and user, single use, 10 min
//   - unknown / reused / foreign code -> 400 invalid_grant; wrong secret -> 401 invalid_client
//   - refresh tokens are the ones it issued; revoked / unknown -> 400 invalid_grant; a refresh
//     answer carries no new refresh token (as Google does), unless the client asks for rotation
//   - ID tokens name the user as `email` with `email_verified: true` (as Google's do), `aud` the
//     client id and `iss` this server's URL; a client can have any claim replaced or removed
//   - /userinfo checks the bearer token it issued (expired / unknown -> 401); /revoke (RFC 7009)
//     really revokes
//
// Test control API (parallel-safe: every test registers its own client):
//   POST /__test/clients         {client_id, client_secret, redirect_uris?, access_token_ttl?,
//                                 deny?, token_error?: {status, body},
//                                 id_token_claims?: {claim: value | null (removed)},
//                                 rotate_refresh_tokens?: each refresh answers a new refresh
//                                 token and revokes the one presented}          -> 201
//   POST /__test/clients/{id}/revoke   revoke every refresh token of that client -> 200 {revoked}
//   GET  /__test/clients/{id}          counters and the last token request (no secret)
//   GET  /__test/clients/{id}/issued   every code, access and refresh token issued to it, so tests
//                                      can prove none of them ever shows up in a log or a page
//   GET  /__test/tokens/{access_token} what the server knows about an access token it issued
//   GET  /__test/health                -> 200 "ok"
//
// Started by scripts/services/oauth.sh. Usage: node server.mjs [--host 127.0.0.1] [--port 0] [--url-file FILE]
//                              [--client ID:SECRET]... [--modules DIR]
// --modules names the node_modules folder holding oauth2-mock-server (default: resolved from here).
import http from "node:http";
import { writeFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { randomUUID } from "node:crypto";

const CODE_TTL_MS = 10 * 60 * 1000;
const DEFAULT_USER = "johndoe@example.com";

function parseArgs(argv) {
  const opts = { host: "127.0.0.1", port: 0, urlFile: null, clients: [], modules: null };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value after ${argv[i]}`);
      return argv[++i];
    };
    switch (argv[i]) {
      case "--host": opts.host = next(); break;
      case "--port": opts.port = Number.parseInt(next(), 10); break;
      case "--url-file": opts.urlFile = next(); break;
      case "--modules": opts.modules = next(); break;
      case "--client": {
        const v = next();
        const at = v.indexOf(":");
        if (at <= 0) throw new Error("--client wants ID:SECRET");
        opts.clients.push({ client_id: v.slice(0, at), client_secret: v.slice(at + 1) });
        break;
      }
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const require = createRequire(opts.modules ? join(opts.modules, "noop.js") : import.meta.url);
const { OAuth2Issuer, OAuth2Service } = await import(pathToFileURL(require.resolve("oauth2-mock-server")).href);

/** client_id -> {client_id, client_secret, redirect_uris, access_token_ttl, deny, token_error, stats} */
const clients = new Map();
/** code -> {client_id, redirect_uri, user, scope, expires_at, used} */
const codes = new Map();
/** refresh token -> {client_id, user, scope, revoked} */
const refreshTokens = new Map();
/** access token -> {client_id, user, scope, expires_at} */
const accessTokens = new Map();

function registerClient(c) {
  if (typeof c.client_id !== "string" || c.client_id === "") throw new Error("client_id required");
  if (typeof c.client_secret !== "string" || c.client_secret === "") throw new Error("client_secret required");
  clients.set(c.client_id, {
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: Array.isArray(c.redirect_uris) ? c.redirect_uris : null,
    access_token_ttl: Number.isInteger(c.access_token_ttl) ? c.access_token_ttl : 3600,
    deny: c.deny === true,
    token_error: c.token_error ?? null,
    id_token_claims: c.id_token_claims ?? {},
    rotate_refresh_tokens: c.rotate_refresh_tokens === true,
    stats: { authorizations: 0, codes_redeemed: 0, refreshes: 0, token_requests: 0, rejected: 0, last_token_request: null },
  });
}
for (const c of opts.clients) registerClient(c);

/** Client credentials as sent: HTTP Basic (client_secret_basic) or form fields (client_secret_post). */
function clientCredentials(req) {
  const h = req.headers["authorization"];
  if (typeof h === "string" && h.startsWith("Basic ")) {
    const dec = Buffer.from(h.slice(6), "base64").toString("utf8");
    const at = dec.indexOf(":");
    if (at >= 0) {
      return {
        id: decodeURIComponent(dec.slice(0, at)),
        secret: decodeURIComponent(dec.slice(at + 1)),
        method: "basic",
      };
    }
  }
  return { id: req.body?.client_id, secret: req.body?.client_secret, method: "post" };
}

/** The grant (code or refresh token) a token request presents, for the token claims. */
function grantOf(body) {
  if (body?.grant_type === "authorization_code") return codes.get(body.code);
  if (body?.grant_type === "refresh_token") return refreshTokens.get(body.refresh_token);
  return undefined;
}

const issuer = new OAuth2Issuer();
const service = new OAuth2Service(issuer);
await issuer.keys.generate("RS256");

service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const q = new URL(req.url, "http://x").searchParams;
  const client = clients.get(q.get("client_id"));
  const code = redirect.url.searchParams.get("code");
  if (!client || !code) return; // unknown clients never get here (see the wrapper below)
  client.stats.authorizations++;
  if (client.deny) {
    // The user pressed "Cancel" on the consent screen.
    redirect.url.searchParams.delete("code");
    redirect.url.searchParams.set("error", "access_denied");
    return;
  }
  codes.set(code, {
    client_id: client.client_id,
    redirect_uri: q.get("redirect_uri"),
    user: q.get("login_hint") || DEFAULT_USER,
    scope: q.get("scope") || "",
    expires_at: Date.now() + CODE_TTL_MS,
    used: false,
  });
});

service.on("beforeTokenSigning", (token, req) => {
  // RS256 is deterministic: without a unique id, two tokens issued in the same second are equal.
  token.payload.jti = randomUUID();
  const grant = grantOf(req.body);
  if (grant !== undefined) {
    token.payload.sub = grant.user;
    token.payload.email = grant.user;
    if ("scope" in token.payload) token.payload.scope = grant.scope;
  }
  // The ID token is the one with an audience (the access token carries the scope instead).
  if ("aud" in token.payload && !("scope" in token.payload)) {
    token.payload.email_verified = true;
    const client = clients.get(clientCredentials(req).id);
    for (const [claim, value] of Object.entries(client?.id_token_claims ?? {})) {
      if (value === null) delete token.payload[claim];
      else token.payload[claim] = value;
    }
  }
});

function reject(resp, client, status, error, description) {
  if (client) client.stats.rejected++;
  resp.statusCode = status;
  resp.body = { error, error_description: description };
}

service.on("beforeResponse", (resp, req) => {
  const body = req.body ?? {};
  const cred = clientCredentials(req);
  const client = clients.get(cred.id);
  if (client) {
    client.stats.token_requests++;
    client.stats.last_token_request = {
      grant_type: body.grant_type,
      auth_method: cred.method,
      redirect_uri: body.redirect_uri ?? null,
      has_code: typeof body.code === "string",
      has_refresh_token: typeof body.refresh_token === "string",
    };
  }
  if (!client || cred.secret !== client.client_secret) {
    return reject(resp, client, 401, "invalid_client", "The OAuth client was not found or the secret is wrong.");
  }
  if (client.token_error) {
    resp.statusCode = client.token_error.status ?? 500;
    resp.body = client.token_error.body ?? { error: "server_error" };
    return;
  }
  const ttl = client.access_token_ttl;
  if (body.grant_type === "authorization_code") {
    const code = codes.get(body.code);
    if (!code || code.used || code.client_id !== client.client_id || code.expires_at < Date.now()) {
      return reject(resp, client, 400, "invalid_grant", "Malformed auth code.");
    }
    code.used = true; // single use, even when the redirect_uri check below fails
    if (code.redirect_uri !== body.redirect_uri) {
      return reject(resp, client, 400, "redirect_uri_mismatch", "Bad Request");
    }
    client.stats.codes_redeemed++;
    refreshTokens.set(resp.body.refresh_token, { client_id: client.client_id, user: code.user, scope: code.scope, revoked: false });
    resp.body.scope = code.scope;
  } else if (body.grant_type === "refresh_token") {
    const rt = refreshTokens.get(body.refresh_token);
    if (!rt || rt.revoked || rt.client_id !== client.client_id) {
      return reject(resp, client, 400, "invalid_grant", "Token has been expired or revoked.");
    }
    client.stats.refreshes++;
    if (client.rotate_refresh_tokens) {
      rt.revoked = true;
      refreshTokens.set(resp.body.refresh_token, { ...rt, revoked: false });
    } else {
      delete resp.body.refresh_token; // Google keeps the old refresh token valid and sends no new one
    }
    delete resp.body.id_token;
    resp.body.scope = rt.scope;
  } else {
    return reject(resp, client, 400, "unsupported_grant_type", "Invalid grant_type.");
  }
  resp.body.expires_in = ttl;
  accessTokens.set(resp.body.access_token, {
    client_id: client.client_id,
    user: grantOf(body)?.user,
    scope: resp.body.scope,
    expires_at: Date.now() + ttl * 1000,
  });
});

service.on("beforeUserinfo", (resp, req) => {
  const h = req.headers["authorization"] ?? "";
  const tok = h.startsWith("Bearer ") ? accessTokens.get(h.slice(7)) : undefined;
  if (!tok || tok.expires_at < Date.now()) {
    resp.statusCode = 401;
    resp.body = { error: "invalid_token" };
    return;
  }
  resp.body = { sub: tok.user, email: tok.user };
});

function sendJson(res, status, body) {
  const s = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(s) });
  res.end(s);
}

/** RFC 7009 revocation (the library's /revoke does not parse form bodies, so it is served here). */
async function revoke(req, res) {
  const t = new URLSearchParams(await readBody(req)).get("token");
  const rt = t ? refreshTokens.get(t) : undefined;
  if (rt) rt.revoked = true;
  if (t) accessTokens.delete(t);
  res.writeHead(200);
  res.end();
}

async function readJson(req) {
  const data = await readBody(req);
  return data === "" ? {} : JSON.parse(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c) => {
      data += c;
      if (data.length > 1 << 16) reject(new Error("body too large"));
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

async function control(req, res, path) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent); // ["__test", ...]
  if (req.method === "GET" && parts[1] === "health") {
    res.writeHead(200, { "content-type": "text/plain" });
    return res.end("ok");
  }
  if (req.method === "POST" && parts[1] === "clients" && parts.length === 2) {
    registerClient(await readJson(req));
    return sendJson(res, 201, { ok: true });
  }
  if (parts[1] === "clients" && parts.length >= 3) {
    const client = clients.get(parts[2]);
    if (!client) return sendJson(res, 404, { error: "no such client" });
    if (req.method === "POST" && parts[3] === "revoke") {
      let revoked = 0;
      for (const rt of refreshTokens.values()) {
        if (rt.client_id === client.client_id && !rt.revoked) {
          rt.revoked = true;
          revoked++;
        }
      }
      return sendJson(res, 200, { revoked });
    }
    if (req.method === "GET" && parts.length === 3) return sendJson(res, 200, client.stats);
    if (req.method === "GET" && parts[3] === "issued") {
      const mine = (m) => [...m.entries()].filter(([, v]) => v.client_id === client.client_id).map(([k]) => k);
      return sendJson(res, 200, {
        codes: mine(codes),
        access_tokens: mine(accessTokens),
        refresh_tokens: mine(refreshTokens),
      });
    }
  }
  if (req.method === "GET" && parts[1] === "tokens" && parts.length === 3) {
    const tok = accessTokens.get(parts[2]);
    if (!tok) return sendJson(res, 404, { error: "unknown token" });
    return sendJson(res, 200, { ...tok, expired: tok.expires_at < Date.now() });
  }
  return sendJson(res, 404, { error: "no such control route" });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname.startsWith("/__test/")) {
    control(req, res, url.pathname).catch((e) => sendJson(res, 400, { error: String(e.message ?? e) }));
    return;
  }
  if (req.method === "POST" && url.pathname === "/revoke") {
    revoke(req, res).catch((e) => sendJson(res, 400, { error: String(e.message ?? e) }));
    return;
  }
  if (req.method === "GET" && url.pathname === "/authorize") {
    // Google shows an error page (no redirect) for an unknown client or a redirect URI it does not know.
    const client = clients.get(url.searchParams.get("client_id"));
    const redirectUri = url.searchParams.get("redirect_uri");
    if (!client) {
      res.writeHead(400, { "content-type": "text/plain" });
      return res.end("Error 401: invalid_client (The OAuth client was not found.)");
    }
    if (client.redirect_uris && !client.redirect_uris.includes(redirectUri)) {
      res.writeHead(400, { "content-type": "text/plain" });
      return res.end("Error 400: redirect_uri_mismatch");
    }
  }
  service.requestHandler(req, res);
});

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const url = `http://${opts.host}:${port}`;
  issuer.url = url;
  if (opts.urlFile) {
    writeFileSync(`${opts.urlFile}.tmp`, url + "\n");
    renameSync(`${opts.urlFile}.tmp`, opts.urlFile);
  }
  console.log(`oauth test server listening on ${url}`);
});

// Nothing to flush: stop at once (open keep-alive connections must not delay the test script).
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => process.exit(0));
}
