// Start-up refusals: settings that would leave a production server open (or a dev server reachable
// from the network) are refused before anything listens, with one line per problem naming the
// setting, its env name and its flag. An explicit `allowInsecure.*` override turns a refusal into a
// warning the caller logs. docs/security.md lists every rule.
import type { Config } from "./schema.js";
import { fieldByKey } from "./fields.js";
import { ConfigError } from "./errors.js";
import { SECRET_ADVICE, placeholderWeakness, secretWeakness } from "./secrets.js";
import { isLoopbackHost, matchesEverything } from "../transport/client-address.js";

/** "jwt.secret (PARLANCE_JWT_SECRET / --jwt-secret)" */
export function settingName(key: string): string {
  const f = fieldByKey.get(key);
  return f ? `${key} (${f.env} / --${f.flag})` : key;
}

const envOf = (key: string) => fieldByKey.get(key)?.env ?? key;
const flagOf = (key: string) => `--${fieldByKey.get(key)?.flag ?? key}`;

function checkUrl(problems: string[], warnings: string[], urlKey: string, url: string | undefined, allowKey: string, allowed: boolean): void {
  if (!url) return;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    problems.push(`${settingName(urlKey)}: not a URL`);
    return;
  }
  if (u.protocol === "https:") return;
  if (u.protocol !== "http:") {
    problems.push(`${settingName(urlKey)}: must be an https:// URL (got ${u.protocol})`);
    return;
  }
  if (!allowed) {
    problems.push(
      `${settingName(urlKey)}: http:// sends keys and tokens in cleartext; use https://, or for a sidecar on this host set ${envOf(allowKey)}=1 (${flagOf(allowKey)}) with a loopback URL`,
    );
  } else if (!isLoopbackHost(u.hostname)) {
    problems.push(`${settingName(urlKey)}: ${envOf(allowKey)} allows http:// only to a loopback host (127.0.0.1, ::1, localhost), not ${u.hostname}`);
  } else {
    warnings.push(`${settingName(urlKey)} is plain http:// to ${u.host} (allowed by ${envOf(allowKey)}): keep that sidecar on this host`);
  }
}

function urlPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}

/**
 * Throws a ConfigError listing every refusal; returns the warnings to log (overrides in use,
 * settings that work but weaken a defence).
 */
export function assertProductionReady(config: Config): string[] {
  const problems: string[] = [];
  const warnings: string[] = [];

  if (config.dev) {
    if (!isLoopbackHost(config.host)) {
      if (config.allowInsecure.devOnNetwork) {
        warnings.push(
          `dev mode on ${config.host} (allowed by ${envOf("allowInsecure.devOnNetwork")}): a dev-mode server is not for the network; the dev token endpoint stays off, but use production mode for anything beyond a trusted LAN`,
        );
      } else {
        problems.push(
          `${settingName("dev")}: dev mode serves a generated certificate and mints tokens; it binds loopback only, not ${settingName("host")}=${config.host}. Use production mode (docs/deploy.md), or set ${envOf("allowInsecure.devOnNetwork")}=1 (${flagOf("allowInsecure.devOnNetwork")}) to force it`,
        );
      }
    }
    if (problems.length) throw new ConfigError(`refusing to start:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    return warnings;
  }

  const j = config.jwt;
  if (!j.secret && !j.publicKey && !j.jwksUrl && !j.introspectionUrl) {
    problems.push(
      "production mode needs a token verifier: set PARLANCE_JWT_SECRET, PARLANCE_JWT_PUBLIC_KEY, PARLANCE_JWKS_URL or PARLANCE_INTROSPECTION_URL (or run with --dev)",
    );
  }
  if (!config.behindProxy && (!config.tls.cert || !config.tls.key)) {
    problems.push("production mode needs PARLANCE_TLS_CERT and PARLANCE_TLS_KEY (or --behind-proxy for a TLS-terminating proxy, or --dev)");
  } else if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) {
    problems.push("tls.cert (PARLANCE_TLS_CERT) and tls.key (PARLANCE_TLS_KEY) must be set together");
  }

  checkUrl(problems, warnings, "jwt.jwksUrl", j.jwksUrl, "allowInsecure.jwksUrl", config.allowInsecure.jwksUrl);
  checkUrl(problems, warnings, "jwt.introspectionUrl", j.introspectionUrl, "allowInsecure.introspectionUrl", config.allowInsecure.introspectionUrl);

  if (j.secret) {
    const why = secretWeakness(j.secret);
    if (why) problems.push(`${settingName("jwt.secret")} ${why}; ${SECRET_ADVICE}`);
  }
  if (j.introspectionClientSecret) {
    const why = placeholderWeakness(j.introspectionClientSecret);
    if (why) problems.push(`${settingName("jwt.introspectionClientSecret")} ${why}`);
  }
  // Passwords inside service URLs: only a copied placeholder is refused (the service sets the rules).
  for (const key of ["store.databaseUrl", "queue.redisUrl"] as const) {
    const url = key === "store.databaseUrl" ? config.store.databaseUrl : config.queue.redisUrl;
    const password = url ? urlPassword(url) : "";
    const why = password ? placeholderWeakness(password) : null;
    if (why) problems.push(`${settingName(key)}: its password ${why}`);
  }
  if (config.metrics.token) {
    const why = secretWeakness(config.metrics.token);
    if (why) problems.push(`${settingName("metrics.token")} ${why}; ${SECRET_ADVICE}`);
  }

  const everyone = config.trustedProxies.find(matchesEverything);
  if (everyone) {
    problems.push(`${settingName("trustedProxies")}: ${everyone} trusts every peer's X-Forwarded-For, so any client picks its own address; list the proxies' addresses`);
  }
  if (config.behindProxy && config.trustedProxies.length === 0) {
    warnings.push(
      `${settingName("behindProxy")} without ${settingName("trustedProxies")}: X-Forwarded-For is ignored, so per-address limits count every client behind the proxy as one; list the proxy's address`,
    );
  }

  if (config.metrics.port !== undefined && !config.metrics.token && !isLoopbackHost(config.metrics.host)) {
    warnings.push(`${settingName("metrics.port")} on ${config.metrics.host} without ${settingName("metrics.token")}: anyone who reaches that address reads /metrics`);
  }

  if (problems.length) throw new ConfigError(`refusing to start in production mode:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  return warnings;
}
