// Contoso Expenses — the browser SPA of the Deputy chain.
// Auth code + PKCE against the authority, one access token per service, claims-challenge step-up,
// and (demo mode) the token chain of the last request. Plain ES2020, no build step.
'use strict';

// ───────────────────────────── Pure helpers (unit-testable in Node) ─────────────────────────────

/** Base64url without padding (RFC 4648 §5) of bytes. */
function bytesToBase64Url(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Bytes of standard or url-safe base64, with or without padding. Throws on anything else. */
function base64ToBytes(text) {
  let s = String(text).trim().replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) throw new Error('not base64');
  s += '='.repeat((4 - (s.length % 4)) % 4);
  const binary = atob(s);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** UTF-8 text of base64 (either alphabet). */
function base64ToText(text) {
  return new TextDecoder('utf-8', { fatal: true }).decode(base64ToBytes(text));
}

/** JSON value of base64url(UTF-8 JSON). Throws when it is not. */
function decodeBase64UrlJson(text) {
  return JSON.parse(base64ToText(text));
}

/** The payload of a JWT, or null when the value is not a readable JWT. */
function decodeJwtPayload(jwt) {
  const parts = String(jwt || '').split('.');
  if (parts.length < 2) return null;
  try {
    const payload = decodeBase64UrlJson(parts[1]);
    return payload && typeof payload === 'object' ? payload : null;
  } catch (_) {
    return null;
  }
}

/**
 * Parses a WWW-Authenticate value (RFC 9110 §11.6.1) into challenges:
 * [{scheme, params: {lower-cased name: value}}]. Quoted strings may contain commas and escapes.
 */
function parseWwwAuthenticate(header) {
  const s = String(header || '');
  const challenges = [];
  const tokenRe = /[A-Za-z0-9!#$%&'*+.^_`|~-]+/y;
  let i = 0;
  let current = null;
  while (i < s.length) {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
    tokenRe.lastIndex = i;
    const m = tokenRe.exec(s);
    if (!m) { i++; continue; }
    const word = m[0];
    i = tokenRe.lastIndex;
    let j = i;
    while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
    if (s[j] === '=' && current) {
      i = j + 1;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++; // closing quote
      } else {
        while (i < s.length && s[i] !== ',' && !/\s/.test(s[i])) value += s[i++];
      }
      current.params[word.toLowerCase()] = value;
    } else if (s[j] === '=') {
      i = j + 1; // a parameter without a scheme: ignore it
    } else {
      // A new challenge; a following token68 (e.g. "Basic abc==") is skipped by the loop.
      current = { scheme: word, params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}

/** The JSON text of a claims value: raw JSON, or base64 / base64url of it (padding optional). */
function decodeClaimsValue(value) {
  const v = String(value || '').trim();
  if (!v) throw new Error('empty claims value');
  const text = v.startsWith('{') ? v : base64ToText(v);
  const parsed = JSON.parse(text); // throws when it is not JSON
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('claims must be a JSON object');
  return text;
}

/**
 * A claims challenge (Entra's step-up) from a WWW-Authenticate value, or null when there is none:
 * {error, claims (JSON text), authorizationUri}.
 */
function parseClaimsChallenge(header) {
  for (const c of parseWwwAuthenticate(header)) {
    if (c.scheme.toLowerCase() !== 'bearer') continue;
    const p = c.params;
    if (p.error === 'insufficient_claims' && p.claims) {
      return { error: p.error, claims: decodeClaimsValue(p.claims), authorizationUri: p.authorization_uri || null };
    }
  }
  return null;
}

/** The `error` parameter of the first Bearer challenge (e.g. "invalid_token"), or null. */
function bearerError(header) {
  const c = parseWwwAuthenticate(header).find((x) => x.scheme.toLowerCase() === 'bearer');
  return (c && c.params.error) || null;
}

/** The decoded Deputy-Token-Chain header: {correlationId, hops: [...]}, or null when unreadable. */
function decodeChainHeader(value) {
  if (!value) return null;
  try {
    const chain = decodeBase64UrlJson(value);
    if (!chain || typeof chain !== 'object') return null;
    return {
      correlationId: chain.correlationId || null,
      hops: Array.isArray(chain.hops) ? chain.hops.filter((h) => h && typeof h === 'object') : [],
    };
  } catch (_) {
    return null;
  }
}

/** RFC 7636 S256 code challenge of a verifier. */
async function pkceChallengeS256(verifier) {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Error('Web Crypto is unavailable: open the app over https or on localhost / 127.0.0.1.');
  }
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return bytesToBase64Url(new Uint8Array(digest));
}

/** A url-safe random string of `byteCount` random bytes (32 bytes → a 43-character PKCE verifier). */
function randomUrlSafe(byteCount) {
  const bytes = new Uint8Array(byteCount);
  globalThis.crypto.getRandomValues(bytes);
  return bytesToBase64Url(bytes);
}

/** A new random UUID (correlation ids). */
function newUuid() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') return globalThis.crypto.randomUUID();
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A claims request (JSON text, or null) with the client capability `cp1` merged in, as MSAL.js
 * does with `clientCapabilities: ["CP1"]`: the app can take claims challenges, so it gets
 * continuous access evaluation tokens (Microsoft Learn, "Claims challenges, claims requests and
 * client capabilities").
 */
function withClientCapabilities(claims) {
  let request = {};
  if (claims) {
    try { request = JSON.parse(claims); } catch (_) { return claims; }
    if (!request || typeof request !== 'object' || Array.isArray(request)) return claims;
  }
  const accessToken = Object.assign({}, request.access_token || {}, { xms_cc: { values: ['cp1'] } });
  return JSON.stringify(Object.assign({}, request, { access_token: accessToken }));
}

const MAX_STEP_UPS = 3;

/**
 * The claims challenges one action has answered, with this one added; null when this one was
 * answered already (signing in again did not satisfy it) or the action met too many.
 */
function nextStepUps(answered, claims, max = MAX_STEP_UPS) {
  const list = Array.isArray(answered) ? answered : [];
  let key = claims;
  try { key = JSON.stringify(JSON.parse(claims)); } catch (_) { /* compare the text */ }
  if (list.includes(key) || list.length >= max) return null;
  return list.concat([key]);
}

/** The authorize URL (Entra v2, auth code + PKCE, response_mode=query). */
function buildAuthorizeUrl(cfg, { scope, state, nonce, codeChallenge, loginHint, prompt, claims }) {
  const q = new URLSearchParams({
    client_id: cfg.clientId, response_type: 'code', redirect_uri: cfg.redirectUri, response_mode: 'query',
    scope, state, nonce, code_challenge: codeChallenge, code_challenge_method: 'S256',
  });
  if (loginHint) q.set('login_hint', loginHint);
  if (prompt) q.set('prompt', prompt);
  q.set('claims', withClientCapabilities(claims));
  return `${cfg.authority}/oauth2/v2.0/authorize?${q.toString()}`;
}

/** "AADSTS53003" from an error body (error_codes[0], else the description), or null. */
function aadstsCode(body) {
  if (body && Array.isArray(body.error_codes) && body.error_codes.length) return `AADSTS${body.error_codes[0]}`;
  const m = /AADSTS\d+/.exec((body && body.error_description) || '');
  return m ? m[0] : null;
}

function withoutLeadingCode(description, code) {
  const d = String(description || '').trim();
  return code && d.startsWith(`${code}:`) ? d.slice(code.length + 1).trim() : d;
}

/** "Blocked by Conditional Access (AADSTS53003): …" */
function blockedMessage(body) {
  const code = aadstsCode(body) || 'AADSTS53003';
  return `Blocked by Conditional Access (${code}): ${withoutLeadingCode(body && body.error_description, code) || 'access is blocked by a policy.'}`;
}

/** "Consent required (AADSTS65001): … Scopes: …" */
function consentMessage(body) {
  const code = aadstsCode(body) || 'AADSTS65001';
  const scopes = body && (Array.isArray(body.scopes) ? body.scopes.join(' ') : body.scopes);
  const text = withoutLeadingCode(body && body.error_description, code) || 'the application has not been granted the permissions it needs.';
  return `Consent required (${code}): ${text}${scopes ? ` Scopes: ${scopes}` : ''}`;
}

/** "prefix: error (AADSTSnnn): description" for an OAuth error body (any AADSTS code appears once). */
function oauthErrorMessage(prefix, body) {
  const error = (body && body.error) || 'unknown_error';
  const description = (body && body.error_description) || '';
  const code = aadstsCode(body);
  const codePart = code && !description.includes(code) ? ` (${code})` : '';
  return `${prefix}: ${error}${codePart}${description ? ` — ${description}` : ''}`;
}

/** Expiry as local time and relative minutes: {local, relative}, or null. */
function formatExp(exp, nowMs) {
  if (typeof exp === 'string' && /^\d+$/.test(exp)) exp = Number(exp);
  if (typeof exp !== 'number' || !isFinite(exp)) return null;
  const ms = exp * 1000;
  const minutes = Math.round((ms - (nowMs === undefined ? Date.now() : nowMs)) / 60000);
  const relative = minutes >= 0 ? `in ${minutes} min` : `expired ${-minutes} min ago`;
  const date = new Date(ms);
  const sameDay = date.toDateString() === new Date(nowMs === undefined ? Date.now() : nowMs).toDateString();
  return { local: sameDay ? date.toLocaleTimeString() : date.toLocaleString(), relative };
}

/** The code of a Microsoft Graph error body ({"error": {"code", "message"}}), or null. */
function graphErrorCode(body) {
  const e = body && body.error;
  return e && typeof e === 'object' && typeof e.code === 'string' ? e.code : null;
}

/**
 * The Graph permissions an error message names ("This call needs Application.Read.All or …"), if it names any.
 */
function permissionsNamed(message) {
  return String(message || '').match(/\b[A-Z][A-Za-z]*(?:\.[A-Z][A-Za-z]*)+\b/g) || [];
}

/**
 * The text shown for a Microsoft Graph error. A 403 Authorization_RequestDenied means the signed-in
 * user is no administrator, unless the message names the permissions the call needs and the token
 * (`grantedScopes`, e.g. "https://graph.microsoft.com/User.ReadWrite.All") has none of them: then
 * the app lacks a permission, whoever signed in.
 */
function graphErrorMessage(status, body, username, grantedScopes) {
  const e = (body && body.error && typeof body.error === 'object') ? body.error : {};
  const code = e.code || `HTTP ${status}`;
  const message = String(e.message || '').trim();
  const detail = message ? `: ${message}` : '.';
  if (status === 403 && e.code === 'Authorization_RequestDenied') {
    const needed = permissionsNamed(message);
    const granted = (grantedScopes || []).map((s) => String(s).replace(/^.*\//, ''));
    if (grantedScopes && needed.length && !needed.some((p) => granted.includes(p))) {
      return `This app's Microsoft Graph token has none of the permissions the call needs (HTTP 403 ${code})${detail}`;
    }
    return `${username || 'The signed-in user'} is not an administrator: Microsoft Graph refused the request (HTTP 403 ${code})${detail}`;
  }
  return `Microsoft Graph failed (HTTP ${status} ${code})${detail}`;
}

/** Whether an absolute URL (e.g. an @odata.nextLink) is on the origin of `base` (a token may be sent there). */
function sameOrigin(url, base) {
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch (_) {
    return false;
  }
}

const POLICY_STATES = [
  ['enabled', 'On'], ['enabledForReportingButNotEnforced', 'Report-only'], ['disabled', 'Off'],
];

/** "On", "Report-only", "Off" for a Conditional Access policy state (the state itself when unknown). */
function policyStateLabel(state) {
  const known = POLICY_STATES.find(([s]) => s === state);
  return known ? known[1] : String(state || '—');
}

/** A sign-in log entry's result: {ok, code, text}, e.g. {ok: false, code: 50173, text: "Failure AADSTS50173: …"}. */
function signInResult(entry) {
  const status = (entry && entry.status) || {};
  const code = Number(status.errorCode) || 0;
  if (code === 0) return { ok: true, code: 0, text: 'Success' };
  const reason = String(status.failureReason || '').trim();
  return { ok: false, code, text: `Failure AADSTS${code}${reason ? `: ${reason}` : ''}` };
}

/**
 * Delegated permission grants with names: [{id, client, resource, consentType, principal, scope}].
 * clientId and resourceId are service principal object ids (named from `servicePrincipals`);
 * principalId is a user (named from `users`), none for consent on behalf of all users.
 */
function describeGrants(grants, servicePrincipals, users) {
  const spNames = new Map((servicePrincipals || []).map((sp) => [sp.id, sp.displayName || sp.appId || sp.id]));
  const userNames = new Map((users || []).map((u) => [u.id, u.userPrincipalName || u.displayName || u.id]));
  return (grants || []).map((g) => ({
    id: g.id,
    client: spNames.get(g.clientId) || g.clientId || '?',
    resource: spNames.get(g.resourceId) || g.resourceId || '?',
    consentType: g.consentType || '',
    principal: g.consentType === 'AllPrincipals' || !g.principalId ? 'All users' : (userNames.get(g.principalId) || g.principalId),
    scope: String(g.scope || '').trim(),
  }));
}

// ─────────────────────────────────────────── App state ───────────────────────────────────────────

const KEYS = {
  tokens: 'deputy.tokens', refresh: 'deputy.refreshToken', account: 'deputy.account', auth: 'deputy.authRequest',
  pending: 'deputy.pending', page: 'deputy.page', chat: 'deputy.chat', expenses: 'deputy.expenses', idToken: 'deputy.idToken',
  admin: 'deputy.admin',
};
const PAGES = { webapi: 'webApi', agent: 'agent', reports: 'reportsApi', admin: 'graph' };
const INTERACTION_ERRORS = ['interaction_required', 'login_required', 'consent_required', 'invalid_grant', 'insufficient_claims'];

const store = {
  get(key) { try { return JSON.parse(sessionStorage.getItem(key)); } catch (_) { return null; } },
  set(key, value) { sessionStorage.setItem(key, JSON.stringify(value)); },
  del(key) { sessionStorage.removeItem(key); },
};

let config = null;
let currentPage = 'webapi';
let redirecting = false;

class AppError extends Error {
  constructor(message, kind, extra) { super(message); this.kind = kind || 'error'; Object.assign(this, extra || {}); }
}

const $ = (id) => document.getElementById(id);

/** A DOM element: el('td', {class: 'status'}, 'text', child…). Text is never parsed as HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v; else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function setBusy(busy) { document.body.setAttribute('data-busy', busy || redirecting ? 'true' : 'false'); }

function notify(kind, message) {
  const status = $('status');
  status.className = kind === 'error' ? 'error' : 'info';
  status.textContent = message;
}

function serviceOf(key) { return config && config.services && config.services[key]; }
function serviceScopes(key) { return (serviceOf(key) && serviceOf(key).scopes) || []; }
function account() { return store.get(KEYS.account); }

// ───────────────────────────────────────────── Tokens ─────────────────────────────────────────────

async function readJson(res) {
  const text = await res.text().catch(() => '');
  if (!text) return null;
  try { return JSON.parse(text); } catch (_) { return { raw: text }; }
}

async function tokenRequest(params, correlationId) {
  let res;
  try {
    res = await fetch(`${config.authority}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'client-request-id': correlationId },
      body: new URLSearchParams(params).toString(),
    });
  } catch (e) {
    throw new AppError(`Could not reach the authority at ${config.authority} (${e.message}).`, 'network');
  }
  const body = await readJson(res);
  if (res.ok && body && body.access_token) return body;
  throw new AppError(oauthErrorMessage('Token request failed', body || { error: `HTTP ${res.status}` }), 'token', { body: body || {} });
}

function storeTokenResponse(serviceKey, r) {
  const tokens = store.get(KEYS.tokens) || {};
  tokens[serviceKey] = { accessToken: r.access_token, expiresAt: Date.now() + (Number(r.expires_in) || 3600) * 1000, scope: r.scope || '' };
  store.set(KEYS.tokens, tokens);
  if (r.refresh_token) store.set(KEYS.refresh, r.refresh_token);
  const id = decodeJwtPayload(r.id_token);
  // Kept for sign-out: the id_token_hint names this app to the authority (RP-Initiated Logout §2).
  if (id) store.set(KEYS.idToken, r.id_token);
  if (id) store.set(KEYS.account, { username: id.preferred_username || id.upn || id.email || id.name || '', name: id.name || '', oid: id.oid || '' });
}

/** The scopes of the cached token for a service (its token response's `scope`), or null. */
function grantedScopes(serviceKey) {
  const cached = (store.get(KEYS.tokens) || {})[serviceKey];
  return cached && cached.scope ? cached.scope.split(/\s+/).filter(Boolean) : null;
}

function dropToken(serviceKey) {
  const tokens = store.get(KEYS.tokens) || {};
  delete tokens[serviceKey];
  store.set(KEYS.tokens, tokens);
}

/** A valid access token for the service: cached, else silently from the refresh token (as MSAL.js). */
async function acquireToken(serviceKey, correlationId) {
  const cached = (store.get(KEYS.tokens) || {})[serviceKey];
  if (cached && cached.expiresAt - 60000 > Date.now()) return cached.accessToken;
  const refreshToken = store.get(KEYS.refresh);
  if (!refreshToken) throw new AppError('You are not signed in. Please sign in first.', 'signin');
  try {
    const r = await tokenRequest({
      grant_type: 'refresh_token', client_id: config.clientId, refresh_token: refreshToken,
      scope: [...serviceScopes(serviceKey), 'offline_access'].join(' '), claims: withClientCapabilities(null),
    }, correlationId);
    storeTokenResponse(serviceKey, r);
    return r.access_token;
  } catch (e) {
    if (e.kind !== 'token') throw e;
    const body = e.body;
    if ((body.error_codes || []).includes(53003)) throw new AppError(blockedMessage(body), 'blocked');
    if (INTERACTION_ERRORS.includes(body.error)) {
      let claims = null;
      try { claims = body.claims ? decodeClaimsValue(body.claims) : null; } catch (_) { claims = null; }
      throw new AppError(e.message, 'interaction', { claims });
    }
    throw e;
  }
}

/** Sends the browser to the authorize endpoint for one service's scope. */
async function startAuthorize({ serviceKey, claims, loginHint }) {
  const verifier = randomUrlSafe(32);
  const state = randomUrlSafe(16);
  const nonce = randomUrlSafe(16);
  const codeChallenge = await pkceChallengeS256(verifier);
  const scope = ['openid', 'profile', 'offline_access', ...serviceScopes(serviceKey)].join(' ');
  store.set(KEYS.auth, { state, nonce, verifier, serviceKey, scope });
  store.set(KEYS.page, currentPage);
  redirecting = true;
  setBusy(true);
  window.location.assign(buildAuthorizeUrl(config, { scope, state, nonce, codeChallenge, loginHint, claims }));
}

/** Back on /callback: exchange the code, then replay the pending action if there is one. */
async function handleCallback(query) {
  const auth = store.get(KEYS.auth);
  const pending = store.get(KEYS.pending);
  store.del(KEYS.auth);
  store.del(KEYS.pending);
  try {
    // The state first: an answer to a sign-in this page did not start is not shown, error or not.
    if (!auth || query.get('state') !== auth.state) {
      notify('error', 'Sign-in response rejected: its state does not match a sign-in started here. Please sign in again.');
      return;
    }
    if (query.get('error')) {
      const desc = query.get('error_description') || '';
      notify('error', `Sign-in failed: ${query.get('error')}${desc ? ` — ${desc}` : ''}`);
      if (pending) showActionError(pending, $('status').textContent, true);
      return;
    }
    const correlationId = (pending && pending.correlationId) || newUuid();
    let r;
    try {
      r = await tokenRequest({
        grant_type: 'authorization_code', client_id: config.clientId, code: query.get('code'),
        redirect_uri: config.redirectUri, code_verifier: auth.verifier, scope: auth.scope,
      }, correlationId);
    } catch (e) {
      notify('error', e.message);
      if (pending) showActionError(pending, e.message, true);
      return;
    }
    const id = decodeJwtPayload(r.id_token);
    // OpenID Connect Core §3.1.3.7: the id token must carry the nonce this sign-in sent.
    if (!id || id.nonce !== auth.nonce) {
      notify('error', 'Sign-in response rejected: the id token nonce does not match.');
      return;
    }
    storeTokenResponse(auth.serviceKey, r);
    renderAccount();
    if (pending) {
      showPage(pending.page || currentPage);
      await perform({ ...pending, interactive: true, replay: true });
    } else {
      notify('info', `Signed in as ${(account() || {}).username || 'you'}.`);
    }
  } finally {
    history.replaceState(null, '', '/');
  }
}

// ─────────────────────────────────────────── Service calls ───────────────────────────────────────────

/** One user action: a fresh correlation id, busy while in flight. */
async function runAction(spec) {
  setBusy(true);
  try {
    await perform({ ...spec, correlationId: newUuid(), page: currentPage });
  } finally {
    setBusy(false);
  }
}

async function perform(action) {
  const svc = serviceOf(action.service);
  try {
    if (!svc) throw new AppError(`The service "${action.service}" is not configured.`);
    if (!action.replay) notify('info', `${svc.name}: ${action.label}…`);
    else if (action.interactive && !action.tokenRetried) notify('info', `Signed in again. ${svc.name}: ${action.label}…`);
    let token;
    try {
      token = await acquireToken(action.service, action.correlationId);
    } catch (e) {
      if (e.kind !== 'interaction') throw e;
      if (action.interactive) throw new AppError(`${e.message} (still required after signing in again; not retrying)`);
      return redirectForAction(action, e.claims, `Sign-in required for ${svc.name}…`);
    }
    if (action.kind === 'admin') return await performAdmin(action, svc, token);
    const res = await send(svc, token, action, action.path);
    const body = await readJson(res);
    recordChain(action, token, res);
    if (res.ok) return renderResult(action, body);
    return await handleFailure(action, svc, res, body || {});
  } catch (e) {
    showActionError(action, e.message);
  }
}

/**
 * A W3C Trace Context `traceparent` (version 00, sampled): a new trace id and span id, so each
 * request of the SPA starts a trace the chain's services continue (W3C Trace Context §3.2).
 */
function newTraceparent() {
  const hex = (n) => Array.from(globalThis.crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `00-${hex(16)}-${hex(8)}-01`;
}

/** One request of an action to its service with the token (`url`: a path on the service, or an absolute URL). */
async function send(svc, token, action, url, method) {
  const headers = {
    Authorization: `Bearer ${token}`, 'client-request-id': action.correlationId, 'Content-Type': 'application/json',
    traceparent: newTraceparent(),
  };
  const target = /^https?:/.test(url) ? url : svc.url + url;
  method = method || action.method || 'GET';
  try {
    return await fetch(target, { method, headers, body: action.body === undefined || method === 'GET' ? undefined : JSON.stringify(action.body) });
  } catch (e) {
    throw new AppError(`Could not reach ${svc.name} at ${svc.url} (${e.message}).`, 'network');
  }
}

async function handleFailure(action, svc, res, body) {
  const header = res.headers.get('WWW-Authenticate');
  if (res.status === 401) {
    let challenge = null;
    try {
      challenge = parseClaimsChallenge(header);
      if (!challenge && body.error === 'insufficient_claims' && body.claims) challenge = { claims: decodeClaimsValue(body.claims) };
    } catch (e) {
      throw new AppError(`${svc.name} sent a claims challenge that could not be read (${e.message}).`);
    }
    if (challenge) {
      // One action may meet several challenges in turn (continuous access evaluation's nbf, then
      // the MFA the fresh session lacks); the same claims asked for again is a loop.
      const stepUps = nextStepUps(action.stepUps, challenge.claims);
      if (!stepUps) throw new AppError(oauthErrorMessage(`${svc.name} still requires additional claims after step-up; not retrying`, body));
      // The agent names the calls it already made for this message (`resume`): the replay sends it
      // back so they are not made twice.
      const retry = { ...action, stepUp: true, stepUps };
      if (typeof body.resume === 'string' && action.body && typeof action.body === 'object') retry.body = { ...action.body, resume: body.resume };
      return redirectForAction(retry, challenge.claims, 'Additional sign-in required…');
    }
    // invalid_token (expired, revoked, wrong audience) or no token: one silent retry with a new token.
    dropToken(action.service);
    if (!action.tokenRetried) return perform({ ...action, tokenRetried: true, replay: true });
    const reason = bearerError(header) || graphErrorCode(body) || body.error || 'invalid_token';
    const detail = body.error_description || (graphErrorCode(body) && body.error.message) || '';
    signOutLocally(false);
    throw new AppError(`${svc.name} rejected the access token (${reason}${detail ? `: ${detail}` : ''}). Please sign in again.`);
  }
  // Microsoft Graph's errors: {"error": {"code", "message"}} (403 Authorization_RequestDenied for a non-administrator).
  if (graphErrorCode(body)) throw new AppError(graphErrorMessage(res.status, body, (account() || {}).username, grantedScopes(action.service)));
  if (res.status === 403 && body.error === 'access_blocked') throw new AppError(blockedMessage(body));
  if (res.status === 403 && body.error === 'consent_required') throw new AppError(consentMessage(body));
  if (body.error) throw new AppError(oauthErrorMessage(`${svc.name} failed (HTTP ${res.status})`, body));
  const detail = body.raw ? `: ${String(body.raw).slice(0, 200)}` : '.';
  throw new AppError(`${svc.name} failed with HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${detail}`);
}

/** Remembers the action, then sends the user through sign-in (step-up) for the action's service. */
async function redirectForAction(action, claims, message) {
  store.set(KEYS.pending, { ...action, page: action.page || currentPage });
  notify('info', message);
  await startAuthorize({ serviceKey: action.service, claims, loginHint: (account() || {}).username });
}

function showActionError(action, message, statusAlreadySet) {
  if (!statusAlreadySet) notify('error', message);
  if (action.kind === 'reports') $('reports-output').replaceChildren(el('p', { class: 'error' }, message));
  if (action.kind === 'chat') appendChat({ role: 'error', text: message });
  if (action.kind === 'agentReport') $('agent-report-output').replaceChildren(el('p', { class: 'error', role: 'alert' }, message));
  if (action.kind === 'admin') showAdminError(action, message);
}

// ─────────────────────────────────────────── Rendering ───────────────────────────────────────────

function renderResult(action, body) {
  switch (action.kind) {
    case 'list': {
      const rows = Array.isArray(body) ? body : [];
      setExpenses(rows);
      notify('info', `Loaded ${rows.length} expense${rows.length === 1 ? '' : 's'}.`);
      break;
    }
    case 'submit':
    case 'approve': {
      if (body && body.id !== undefined) upsertExpense(body);
      const row = body || {};
      notify('info', action.kind === 'submit'
        ? `Expense ${row.id} submitted (${[row.amount, row.currency].filter(Boolean).join(' ')}).`
        : `Expense ${row.id} approved.`);
      if (action.kind === 'submit' && !action.replay) { $('submit-amount').value = ''; $('submit-description').value = ''; }
      break;
    }
    case 'chat':
      appendChat({ role: 'agent', text: (body && body.reply) || '', toolCalls: (body && body.toolCalls) || [],
        confirmation: body && body.confirmation ? { ...body.confirmation, message: action.body.message } : null });
      notify('info', body && body.confirmation ? 'The agent asks you to confirm.' : 'The agent replied.');
      break;
    case 'agentReport': {
      const months = (body && Array.isArray(body.months)) ? body.months : [];
      $('agent-report-output').replaceChildren(months.length ? el('table', { class: 'compact', id: 'agent-report-table' },
        el('thead', {}, el('tr', {}, ['Month', 'Owner', 'Count', 'Amount'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, months.map((m) => el('tr', {}, el('td', {}, m.month), el('td', {}, m.ownerName), el('td', {}, m.count),
          el('td', { class: 'amount' }, `${m.amount} ${m.currency}`))))) : el('p', { class: 'muted' }, 'No expenses yet.'));
      notify('info', 'The agent made the monthly report on its own.');
      break;
    }
    case 'reports': {
      const out = $('reports-output');
      out.replaceChildren(Array.isArray(body) ? expensesTable(body) : el('pre', {}, JSON.stringify(body, null, 2)));
      notify('info', 'Reports loaded.');
      break;
    }
    default:
      notify('info', 'Done.');
  }
}

function formatDate(value) {
  if (value === null || value === undefined || value === '') return '';
  const d = new Date(typeof value === 'number' ? value * 1000 : value);
  return isNaN(d) ? String(value) : d.toLocaleString();
}

function setExpenses(rows) {
  store.set(KEYS.expenses, rows);
  renderExpenses();
}

function upsertExpense(row) {
  const rows = store.get(KEYS.expenses) || [];
  const i = rows.findIndex((r) => String(r.id) === String(row.id));
  if (i >= 0) rows[i] = row; else rows.push(row);
  setExpenses(rows);
}

function renderExpenses() {
  const rows = store.get(KEYS.expenses) || [];
  const tbody = $('expenses').tBodies[0];
  tbody.replaceChildren(...rows.map((r) => el('tr', { class: 'expense', 'data-id': r.id, 'data-status': r.status },
    el('td', {}, r.id),
    el('td', {}, r.ownerName || r.ownerOid || ''),
    el('td', { class: 'amount' }, `${r.amount} ${r.currency || ''}`.trim()),
    el('td', {}, r.description || ''),
    el('td', { class: 'status' }, r.status || ''),
    el('td', {}, formatDate(r.createdAt)),
    el('td', {}, r.status === 'submitted'
      ? el('button', { type: 'button', class: 'approve', 'data-id': r.id, 'aria-label': `Approve expense ${r.id}` }, 'Approve')
      : ''))));
  $('expenses-empty').hidden = rows.length > 0;
}

/** A compact read-only table of expense rows (agent tool results, reports). */
function expensesTable(rows) {
  if (!rows.length) return el('p', { class: 'muted' }, 'No rows.');
  if (!rows.every((r) => r && typeof r === 'object' && 'id' in r)) return el('pre', {}, JSON.stringify(rows, null, 2));
  return el('table', { class: 'compact' },
    el('thead', {}, el('tr', {}, ['ID', 'Owner', 'Amount', 'Description', 'Status'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {},
      el('td', {}, r.id), el('td', {}, r.ownerName || ''), el('td', { class: 'amount' }, `${r.amount ?? ''} ${r.currency || ''}`.trim()),
      el('td', {}, r.description || ''), el('td', { class: 'status' }, r.status || '')))));
}

function renderToolResult(result) {
  if (Array.isArray(result)) return expensesTable(result);
  if (result && typeof result === 'object' && 'id' in result && 'amount' in result) return expensesTable([result]);
  return el('pre', {}, typeof result === 'string' ? result : JSON.stringify(result, null, 2));
}

function chatEntryNode(entry) {
  if (entry.role === 'user') return el('div', { class: 'msg user' }, entry.text);
  if (entry.role === 'error') return el('div', { class: 'msg error', role: 'alert' }, entry.text);
  return el('div', { class: 'msg agent' },
    el('p', { class: 'reply' }, entry.text),
    (entry.toolCalls || []).map((call) => el('details', { class: call.isError ? 'tool error' : 'tool', open: true },
      el('summary', {}, `${call.isError ? 'Tool failed' : 'Tool'}: ${call.tool}(${call.arguments ? JSON.stringify(call.arguments) : ''})`),
      renderToolResult(call.result))),
    entry.confirmation ? confirmationNode(entry) : null);
}

/**
 * A destructive call the agent proposes: only this button confirms it (the chat request's
 * `confirm` field), never the text of a message.
 */
function confirmationNode(entry) {
  const c = entry.confirmation;
  if (c.resolved) return el('div', { class: 'confirmation' }, el('p', { class: 'muted' }, c.resolved));
  const box = el('div', { class: 'confirmation', role: 'group', 'aria-label': 'Confirmation' },
    el('p', {}, c.prompt || `Confirm ${c.tool}?`));
  const yes = el('button', { type: 'button', class: 'confirm', 'data-tool': c.tool }, `Confirm ${c.tool}`);
  const no = el('button', { type: 'button', class: 'cancel' }, 'Cancel');
  // An answered confirmation is saved as answered: a reload (or a step-up round trip) never offers it again.
  const done = (text) => {
    box.replaceChildren(el('p', { class: 'muted' }, text));
    const log = store.get(KEYS.chat) || [];
    const saved = log.find((e) => e.id === entry.id);
    if (saved && saved.confirmation) { saved.confirmation.resolved = text; store.set(KEYS.chat, log); }
  };
  yes.addEventListener('click', () => {
    done(`Confirmed ${c.tool}(${JSON.stringify(c.arguments || {})}).`);
    appendChat({ role: 'user', text: `Confirmed: ${c.tool}(${JSON.stringify(c.arguments || {})})` });
    runAction({ service: 'agent', kind: 'chat', method: 'POST', path: '/chat', label: 'confirming to the agent',
      body: { message: c.message || '', confirm: { tool: c.tool, arguments: c.arguments || {} } } });
  });
  no.addEventListener('click', () => done('Cancelled: nothing was deleted.'));
  box.append(yes, no);
  return box;
}

function appendChat(entry) {
  entry.id = entry.id || newUuid();
  const log = (store.get(KEYS.chat) || []).concat([entry]).slice(-50);
  store.set(KEYS.chat, log);
  const node = chatEntryNode(entry);
  $('chat-log').append(node);
  node.scrollIntoView({ block: 'nearest' });
}

function restoreChat() {
  $('chat-log').replaceChildren(...(store.get(KEYS.chat) || []).map(chatEntryNode));
}

// ─────────────────────────────────────────── Admin page ───────────────────────────────────────────
// Microsoft Graph on the authority's origin with the signed-in user's delegated token: only an
// administrator may read or change the directory (others get 403 Authorization_RequestDenied).

/**
 * What the admin page reads: section → Graph path; `follow`: read @odata.nextLink pages too;
 * `note`: the element that says why the section is missing when Graph refuses it (or cannot be
 * reached): the page shows the rest. The users come first and are required: a refusal there
 * (e.g. 403 for a non-administrator) is the page's error.
 */
const ADMIN_SECTIONS = {
  users: { path: '/v1.0/users?$select=id,displayName,userPrincipalName,accountEnabled&$orderby=displayName&$top=100', follow: true },
  // Only names the grants' apps (Graph asks for Application.Read.All).
  servicePrincipals: { path: '/v1.0/servicePrincipals?$select=id,appId,displayName&$top=100', follow: true, note: 'admin-grants-note',
    what: 'the apps are shown by their service principal ids' },
  grants: { path: '/v1.0/oauth2PermissionGrants?$top=100', follow: true, note: 'admin-grants-note', what: 'no grants shown' },
  policies: { path: '/v1.0/identity/conditionalAccess/policies', follow: true, note: 'admin-policies-note', what: 'no policies shown' },
  signIns: { path: '/v1.0/auditLogs/signIns?$top=20', follow: false, note: 'admin-signins-note', what: 'no sign-ins shown' },
};
const ADMIN_MAX_PAGES = 20;

/**
 * An admin action: an optional change (method, path, body) and then the sections to read again.
 * A change that succeeded is never sent twice: its reads are an action of their own, so a sign-in
 * they need replays the reads only.
 */
async function performAdmin(action, svc, token) {
  if (action.method && action.method !== 'GET') {
    const res = await send(svc, token, action, action.path);
    const body = await readJson(res);
    if (!res.ok) return await handleFailure(action, svc, res, body || {});
    if (action.path.endsWith('/revokeSignInSessions') && !(body && body.value === true)) {
      throw new AppError(`Microsoft Graph did not confirm the revocation (it answered ${JSON.stringify(body)}).`);
    }
    setAdminResult(action.target, { ok: true, text: action.result || 'Done.' });
    return perform({ service: action.service, kind: 'admin', label: 'reading the directory again', sections: action.sections || [],
      correlationId: action.correlationId, page: action.page, replay: true, doneMessage: action.done });
  }
  const loaded = {};
  const missing = {};
  const username = (account() || {}).username;
  for (const section of action.sections || []) {
    const spec = ADMIN_SECTIONS[section];
    const values = [];
    let url = spec.path;
    for (let page = 0; url && page < ADMIN_MAX_PAGES; page++) {
      let res;
      try {
        res = await send(svc, token, action, url, 'GET');
      } catch (e) {
        if (!spec.note) throw e;
        missing[section] = e.message;
        break;
      }
      const body = await readJson(res);
      // 401 (a claims challenge, an expired token) is the action's, as for any service.
      if (!res.ok && spec.note && res.status !== 401) {
        missing[section] = graphErrorMessage(res.status, body || {}, username, grantedScopes(action.service));
        break;
      }
      if (!res.ok) return await handleFailure(action, svc, res, body || {});
      if (body && Array.isArray(body.value)) values.push(...body.value);
      const next = spec.follow && body && body['@odata.nextLink'];
      // The token goes only to Graph's own origin, whatever a next link names.
      url = next && sameOrigin(next, svc.url) ? next : null;
    }
    loaded[section] = values;
  }
  const admin = Object.assign(store.get(KEYS.admin) || {}, loaded, { error: null });
  admin.missing = Object.assign({}, admin.missing);
  for (const section of Object.keys(loaded)) admin.missing[section] = missing[section] || null;
  if (loaded.users) admin.loadedAt = Date.now();
  // "Load directory" starts afresh; the reads after a change keep its result on its row.
  if (loaded.users && !action.doneMessage) admin.results = {};
  store.set(KEYS.admin, admin);
  renderAdmin();
  const done = action.doneMessage || `${svc.name}: ${(action.sections || []).length === 1 && loaded.signIns
    ? `the latest ${loaded.signIns.length} sign-ins loaded.` : 'the directory is loaded.'}`;
  const gaps = Object.keys(missing).map((section) => ADMIN_SECTIONS[section].what);
  notify(gaps.length ? 'error' : 'info', gaps.length ? `${done} Not everything: ${gaps.join('; ')} (see the notes).` : done);
}

function setAdminResult(target, result) {
  if (!target) return;
  const admin = store.get(KEYS.admin) || {};
  admin.results = Object.assign({}, admin.results, { [target]: result });
  store.set(KEYS.admin, admin);
  renderAdmin();
}

/** A failed change is shown on its row; a failed read (e.g. not an administrator) replaces the page's data. */
function showAdminError(action, message) {
  if (action.target && action.method) return setAdminResult(action.target, { ok: false, text: message });
  store.set(KEYS.admin, { error: message });
  renderAdmin();
}

function adminResultCell(admin, target) {
  const r = (admin.results || {})[target];
  return el('td', { class: r && !r.ok ? 'result error' : 'result', role: r && !r.ok ? 'alert' : null }, r ? r.text : '');
}

function adminTable(id, headings, rows, emptyText) {
  $(id).tBodies[0].replaceChildren(...(rows.length ? rows
    : [el('tr', { class: 'empty' }, el('td', { colspan: headings, class: 'muted' }, emptyText))]));
}

function renderAdmin() {
  const admin = store.get(KEYS.admin) || {};
  const loaded = !!admin.loadedAt;
  $('admin-error').textContent = admin.error || '';
  $('admin-error').hidden = !admin.error;
  $('admin-content').hidden = !loaded;
  $('admin-empty').hidden = loaded || !!admin.error;
  if (!loaded) return;

  adminTable('admin-users', 5, (admin.users || []).map((u) => {
    const enabled = u.accountEnabled !== false;
    const name = u.userPrincipalName || u.displayName || u.id;
    return el('tr', { class: 'admin-user', 'data-id': u.id, 'data-upn': u.userPrincipalName || '', 'data-enabled': String(enabled) },
      el('td', {}, u.displayName || ''),
      el('td', { class: 'upn' }, u.userPrincipalName || ''),
      el('td', { class: 'enabled' }, enabled ? 'Yes' : 'No'),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: enabled ? 'user-toggle danger' : 'user-toggle', 'data-action': enabled ? 'user-disable' : 'user-enable',
          'data-id': u.id, 'aria-label': `${enabled ? 'Disable' : 'Enable'} ${name}` }, enabled ? 'Disable' : 'Enable'),
        el('button', { type: 'button', class: 'user-revoke danger', 'data-action': 'user-revoke', 'data-id': u.id,
          'aria-label': `Revoke the sign-in sessions of ${name}` }, 'Revoke sessions')),
      adminResultCell(admin, `user:${u.id}`));
  }), 'No users.');

  // Why a section is missing, under its heading (one note may serve two sections).
  const notes = {};
  for (const [section, spec] of Object.entries(ADMIN_SECTIONS)) {
    const why = (admin.missing || {})[section];
    if (spec.note && why) (notes[spec.note] = notes[spec.note] || []).push(`${spec.what[0].toUpperCase()}${spec.what.slice(1)}: ${why}`);
  }
  for (const id of new Set(Object.values(ADMIN_SECTIONS).map((spec) => spec.note).filter(Boolean))) {
    $(id).replaceChildren(...(notes[id] || []).map((text) => el('span', { class: 'note-line' }, text)));
    $(id).hidden = !notes[id];
  }
  adminTable('admin-grants', 6, describeGrants(admin.grants, admin.servicePrincipals, admin.users).map((g) =>
    el('tr', { class: 'admin-grant', 'data-id': g.id },
      el('td', { class: 'grant-apps' }, `${g.client} → ${g.resource}`),
      el('td', {}, g.consentType),
      el('td', {}, g.principal),
      el('td', { class: 'scope' }, g.scope),
      el('td', { class: 'actions' }, el('button', { type: 'button', class: 'grant-revoke danger', 'data-action': 'grant-revoke', 'data-id': g.id,
        'aria-label': `Revoke the grant of ${g.scope} on ${g.resource} to ${g.client}` }, 'Revoke')),
      adminResultCell(admin, `grant:${g.id}`))), 'No delegated permission grants.');

  adminTable('admin-policies', 4, (admin.policies || []).map((p) =>
    el('tr', { class: 'admin-policy', 'data-id': p.id, 'data-state': p.state || '' },
      el('td', {}, p.displayName || p.id),
      el('td', { class: 'state' }, policyStateLabel(p.state)),
      el('td', { class: 'actions' }, el('div', { class: 'segmented', role: 'group', 'aria-label': `State of ${p.displayName || p.id}` },
        POLICY_STATES.map(([state, label]) => el('button', {
          type: 'button', class: 'policy-state', 'data-action': 'policy-state', 'data-id': p.id, 'data-state': state,
          'aria-pressed': String(state === p.state), disabled: state === p.state,
        }, label)))),
      adminResultCell(admin, `policy:${p.id}`))), 'No Conditional Access policies.');

  adminTable('admin-signins', 7, (admin.signIns || []).map((e) => {
    const result = signInResult(e);
    return el('tr', { class: 'admin-signin', 'data-error-code': result.code, 'data-correlation': e.correlationId || '',
      'data-upn': e.userPrincipalName || '' },
      el('td', { class: 'time' }, formatDate(e.createdDateTime)),
      el('td', {}, e.userPrincipalName || el('span', { class: 'muted' }, 'app only')),
      el('td', {}, e.appDisplayName || e.appId || ''),
      el('td', {}, e.resourceDisplayName || e.resourceId || ''),
      el('td', { class: result.ok ? 'signin-result ok' : 'signin-result error' }, result.text),
      el('td', {}, e.conditionalAccessStatus || ''),
      el('td', {}, el('code', {}, e.correlationId || '')));
  }), 'No sign-ins yet.');
}

/** A click on one of the admin page's row buttons: the change it asks for, as an action. */
function adminAction(button) {
  const admin = store.get(KEYS.admin) || {};
  const id = button.getAttribute('data-id');
  const path = (template) => template.replace('{id}', encodeURIComponent(id));
  const user = (admin.users || []).find((u) => u.id === id) || {};
  const who = user.userPrincipalName || user.displayName || id;
  const time = new Date().toLocaleTimeString();
  switch (button.getAttribute('data-action')) {
    case 'user-disable':
    case 'user-enable': {
      const enable = button.getAttribute('data-action') === 'user-enable';
      return { method: 'PATCH', path: path('/v1.0/users/{id}'), body: { accountEnabled: enable }, target: `user:${id}`, sections: ['users'],
        label: `${enable ? 'enabling' : 'disabling'} ${who}`, result: `${enable ? 'Enabled' : 'Disabled'} at ${time}.`,
        done: `${enable ? 'Enabled' : 'Disabled'} ${who}.` };
    }
    case 'user-revoke':
      return { method: 'POST', path: path('/v1.0/users/{id}/revokeSignInSessions'), target: `user:${id}`, sections: [],
        label: `revoking the sessions of ${who}`, result: `Sessions revoked at ${time}.`,
        done: `Revoked the sign-in sessions of ${who}: the refresh tokens and the continuous access evaluation tokens issued before now are refused.` };
    case 'grant-revoke': {
      const g = describeGrants(admin.grants, admin.servicePrincipals, admin.users).find((x) => x.id === id) || { client: '?', resource: '?', scope: '' };
      return { method: 'DELETE', path: path('/v1.0/oauth2PermissionGrants/{id}'), target: `grant:${id}`, sections: ['grants'],
        label: 'revoking a delegated permission grant', result: `Revoked at ${time}.`,
        done: `Revoked the grant of ${g.scope || 'its scopes'} on ${g.resource} to ${g.client}.` };
    }
    case 'policy-state': {
      const state = button.getAttribute('data-state');
      const policy = (admin.policies || []).find((p) => p.id === id) || {};
      const name = policy.displayName || id;
      return { method: 'PATCH', path: path('/v1.0/identity/conditionalAccess/policies/{id}'), body: { state }, target: `policy:${id}`,
        sections: ['policies'], label: `setting “${name}” to ${policyStateLabel(state)}`, result: `Set to ${policyStateLabel(state)} at ${time}.`,
        done: `Conditional Access policy “${name}” is now ${policyStateLabel(state)} (${state}).` };
    }
    default:
      return null;
  }
}

// ─────────────────────────────────────── Token-chain panel ───────────────────────────────────────

function claimList(c) {
  const list = (v) => (Array.isArray(v) ? (v.length ? v.join(', ') : '—') : v === null || v === undefined || v === '' ? '—' : String(v));
  const exp = formatExp(c.exp);
  const items = [['aud', list(c.aud)], ['azp', list(c.azp || c.appid)], ['scp', list(c.scp)]];
  if (Array.isArray(c.roles) && c.roles.length) items.push(['roles', list(c.roles)]);
  items.push(['acrs', list(c.acrs)], ['amr', list(c.amr)], ['exp', exp ? `${exp.local} (${exp.relative})` : '—']);
  // Continuous access evaluation: a cp1 token lives a day, and is refused after a critical event.
  if (Array.isArray(c.xms_cc) && c.xms_cc.length) items.push(['xms_cc', `${list(c.xms_cc)} (continuous access evaluation)`]);
  if (c.upn || c.preferred_username) items.push(['user', c.upn || c.preferred_username]);
  // Microsoft Entra Agent ID: the actor is an agent identity (11), the subject an agent user (13);
  // the blueprint is shown for people, never used to authorize.
  if (c.xms_act_fct) items.push(['xms_act_fct', `${c.xms_act_fct}${String(c.xms_act_fct).split(' ').includes('11') ? ' (agent identity)' : ''}`]);
  if (c.xms_sub_fct) items.push(['xms_sub_fct', `${c.xms_sub_fct}${String(c.xms_sub_fct).split(' ').includes('13') ? ' (agent user)' : ''}`]);
  if (c.xms_par_app_azp) items.push(['blueprint', c.xms_par_app_azp]);
  return el('dl', {}, items.map(([k, v]) => [el('dt', {}, k), el('dd', { 'data-claim': k }, v)]));
}

function recordChain(action, token, res) {
  if (!config.demo) return;
  const header = res.headers.get('Deputy-Token-Chain');
  const chain = decodeChainHeader(header);
  const svc = serviceOf(action.service);
  const spa = decodeJwtPayload(token);
  const rows = [el('tr', { class: 'hop spa', 'data-service': 'spa', 'data-target': action.service },
    el('th', { scope: 'row' }, `SPA → ${svc.name}`),
    el('td', {}, spa ? claimList(spa) : el('span', { class: 'muted' }, 'The access token is not a readable JWT.')))];
  for (const hop of (chain && chain.hops) || []) {
    rows.push(el('tr', { class: hop.error ? 'hop hop-error' : 'hop', 'data-service': hop.service || '' },
      el('th', { scope: 'row' }, hop.name || hop.service || '?'),
      el('td', {}, claimList(hop), hop.error ? el('p', { class: 'hop-error-text' }, `Error: ${hop.error}`) : null)));
  }
  $('chain-rows').replaceChildren(...rows);
  const correlationId = (chain && chain.correlationId) || action.correlationId;
  const note = !header ? `${svc.name} answered HTTP ${res.status}. The response carried no Deputy-Token-Chain header.`
    : !chain ? `${svc.name} answered HTTP ${res.status}. Its Deputy-Token-Chain header could not be decoded.`
      : `${svc.name} answered HTTP ${res.status}: ${chain.hops.length} hop${chain.hops.length === 1 ? '' : 's'} after the SPA.`;
  $('chain-note').textContent = note;
  $('chain-correlation').textContent = correlationId;
  const link = $('chain-signins');
  if (config.signInLog) {
    link.href = `${config.signInLog}${config.signInLog.includes('?') ? '&' : '?'}correlationId=${encodeURIComponent(correlationId)}`;
    link.hidden = false;
  }
}

// ─────────────────────────────────────────── Page wiring ───────────────────────────────────────────

function showPage(page) {
  if (!PAGES[page]) page = 'webapi';
  currentPage = page;
  store.set(KEYS.page, page);
  for (const p of Object.keys(PAGES)) {
    $(`page-${p}`).hidden = p !== page;
    $(`tab-${p}`).setAttribute('aria-selected', String(p === page));
    $(`tab-${p}`).classList.toggle('active', p === page);
  }
}

function renderAccount() {
  const a = account();
  $('user').textContent = (a && a.username) || '';
  $('signin').hidden = !!a;
  $('signout').hidden = !a;
}

function signOutLocally(clearData) {
  for (const key of [KEYS.tokens, KEYS.refresh, KEYS.account, KEYS.auth, KEYS.pending, KEYS.idToken]) store.del(key);
  if (clearData) { store.del(KEYS.chat); store.del(KEYS.expenses); store.del(KEYS.admin); renderExpenses(); restoreChat(); renderAdmin(); }
  renderAccount();
}

/** Resolves false when nothing answers at the authority (an opaque no-cors fetch needs no CORS). */
async function authorityReachable() {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 4000);
  try {
    await fetch(`${config.authority}/v2.0/.well-known/openid-configuration`, { mode: 'no-cors', cache: 'no-store', signal: ctl.signal });
    return true;
  } catch (_) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function onSignIn() {
  if (!config) return notify('error', 'The app configuration (/config.json) is not loaded; reload the page.');
  setBusy(true);
  try {
    if (!(await authorityReachable())) throw new Error(`The authority at ${config.authority} is unreachable.`);
    store.del(KEYS.pending);
    notify('info', 'Redirecting to sign-in…');
    await startAuthorize({ serviceKey: 'webApi' });
  } catch (e) {
    redirecting = false;
    notify('error', `Cannot sign in: ${e.message}`);
    setBusy(false);
  }
}

async function onSignOut() {
  const idToken = store.get(KEYS.idToken);
  signOutLocally(true);
  notify('info', 'Signed out.');
  if (!config) return;
  setBusy(true);
  if (await authorityReachable()) {
    redirecting = true;
    // The app is named (client_id, and the id token as hint): the authority returns only to a
    // redirect URI registered for it, and signs out without asking when the hint is valid.
    const q = new URLSearchParams({ post_logout_redirect_uri: config.redirectUri, client_id: config.clientId });
    if (idToken) q.set('id_token_hint', idToken);
    window.location.assign(`${config.authority}/oauth2/v2.0/logout?${q}`);
  }
  setBusy(false);
}

function bindUi() {
  for (const p of Object.keys(PAGES)) $(`tab-${p}`).addEventListener('click', () => showPage(p));
  $('signin').addEventListener('click', onSignIn);
  $('signout').addEventListener('click', onSignOut);
  $('expenses-load').addEventListener('click', () => runAction({ service: 'webApi', kind: 'list', method: 'GET', path: '/api/expenses', label: 'loading expenses' }));
  $('expenses').addEventListener('click', (event) => {
    const button = event.target.closest('button.approve');
    if (!button) return;
    const id = button.getAttribute('data-id');
    runAction({ service: 'webApi', kind: 'approve', method: 'POST', path: `/api/expenses/${encodeURIComponent(id)}/approve`, label: `approving expense ${id}` });
  });
  $('submit-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const amountText = $('submit-amount').value.trim().replace(',', '.');
    const amount = Number(amountText);
    const description = $('submit-description').value.trim();
    if (!amountText || !isFinite(amount) || amount <= 0) return notify('error', 'Enter a positive amount, e.g. 12.50.');
    if (!description) return notify('error', 'Enter a description.');
    runAction({ service: 'webApi', kind: 'submit', method: 'POST', path: '/api/expenses', label: 'submitting the expense',
      body: { amount, description, currency: $('submit-currency').value } });
  });
  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const message = $('chat-input').value.trim();
    if (!message) return;
    $('chat-input').value = '';
    appendChat({ role: 'user', text: message });
    runAction({ service: 'agent', kind: 'chat', method: 'POST', path: '/chat', label: 'asking the agent', body: { message } });
  });
  $('reports-load').addEventListener('click', () => runAction({ service: 'reportsApi', kind: 'reports', method: 'GET', path: '/api/expenses', label: 'loading reports' }));
  $('agent-report').addEventListener('click', () => runAction({ service: 'agent', kind: 'agentReport', method: 'GET', path: '/report', label: 'asking for the monthly report' }));
  $('admin-load').addEventListener('click', () => runAction({ service: 'graph', kind: 'admin', label: 'loading the directory',
    sections: ['users', 'servicePrincipals', 'grants', 'policies', 'signIns'] }));
  $('admin-signins-load').addEventListener('click', () => runAction({ service: 'graph', kind: 'admin', label: 'loading the sign-in log', sections: ['signIns'] }));
  $('admin-content').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    const action = button && adminAction(button);
    if (action) runAction({ service: 'graph', kind: 'admin', ...action });
  });
}

async function loadConfig() {
  const res = await fetch('/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const cfg = await res.json();
  for (const field of ['authority', 'clientId', 'redirectUri', 'services']) if (!cfg[field]) throw new Error(`"${field}" is missing`);
  cfg.authority = String(cfg.authority).replace(/\/+$/, '');
  for (const s of Object.values(cfg.services)) s.url = String(s.url || '').replace(/\/+$/, '');
  return cfg;
}

async function init() {
  setBusy(true);
  try {
    bindUi();
    showPage(store.get(KEYS.page) || 'webapi');
    renderExpenses();
    restoreChat();
    renderAdmin();
    try {
      config = await loadConfig();
    } catch (e) {
      notify('error', `Could not load the app configuration (/config.json): ${e.message}. Is the SPA server running?`);
      renderAccount();
      return;
    }
    $('chain').hidden = !config.demo;
    renderAccount();
    const query = new URLSearchParams(window.location.search);
    if (query.has('code') || query.has('error')) {
      await handleCallback(query);
    } else {
      if (window.location.pathname !== '/' || window.location.search) history.replaceState(null, '', '/');
      if (!(await authorityReachable())) notify('error', `The authority at ${config.authority} is unreachable. Start it (deputy up), then reload.`);
      else notify('info', account() ? `Signed in as ${account().username}.` : 'Sign in to get started.');
    }
  } catch (e) {
    notify('error', `Unexpected error: ${e.message}`);
  } finally {
    setBusy(false);
  }
}

if (typeof window !== 'undefined' && typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
}

if (typeof module !== 'undefined' && module.exports) {
  module.exports = {
    bytesToBase64Url, base64ToBytes, base64ToText, decodeBase64UrlJson, decodeJwtPayload, parseWwwAuthenticate,
    decodeClaimsValue, parseClaimsChallenge, bearerError, decodeChainHeader, pkceChallengeS256, randomUrlSafe, newUuid,
    buildAuthorizeUrl, withClientCapabilities, newTraceparent, nextStepUps, aadstsCode, blockedMessage, consentMessage, oauthErrorMessage, formatExp,
    graphErrorCode, graphErrorMessage, permissionsNamed, sameOrigin, policyStateLabel, signInResult, describeGrants, ADMIN_SECTIONS,
  };
}
