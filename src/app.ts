// Composition root: turns a validated Config into running parts (TLS material, verifier,
// engines, store, analysis queue, gateway) and owns their shutdown order.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "./config/index.js";
import { assertProductionReady } from "./config/index.js";
import { createVerifier, type TokenVerifier } from "./auth/verifier.js";
import { devSecret, mintDevToken } from "./auth/dev.js";
import { ensureDevCertificate, fingerprint } from "./transport/tls.js";
import { startGateway, type Gateway } from "./transport/server.js";
import { Metrics } from "./transport/metrics.js";
import type { Logger } from "./util/log.js";
import { readFileSync } from "node:fs";

export interface App {
  gateway: Gateway;
  verifier: TokenVerifier;
  devToken: (() => Promise<string>) | null;
  tlsGenerated: boolean;
  close(graceMs?: number): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  assertProductionReady(config);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });

  let tls: { cert: string; key: string } | null = null;
  let tlsGenerated = false;
  if (config.tls.cert && config.tls.key) tls = { cert: resolve(config.tls.cert), key: resolve(config.tls.key) };
  else if (!config.behindProxy) {
    const dev = await ensureDevCertificate(dataDir);
    tls = { cert: dev.cert, key: dev.key };
    tlsGenerated = dev.generated;
  }

  const hasVerifier = Boolean(config.jwt.secret || config.jwt.publicKey || config.jwt.jwksUrl || config.jwt.introspectionUrl);
  const secret = config.dev && !hasVerifier ? devSecret(dataDir) : undefined;
  const verifier = await createVerifier(config.jwt, { devSecret: secret });
  const devToken = secret
    ? () => mintDevToken(secret, { sub: "dev-learner", ttlSeconds: 3600, issuer: config.jwt.issuer, audience: config.jwt.audience })
    : null;

  const metrics = new Metrics();
  const closers: (() => Promise<void>)[] = [];

  const gateway = await startGateway(config, { log, verifier, metrics, tls, devToken });
  if (tls) log.info({ url: gateway.url, fingerprint: fingerprint(readFileSync(tls.cert, "utf8")) }, "listening");

  return {
    gateway,
    verifier,
    devToken,
    tlsGenerated,
    async close(graceMs) {
      await gateway.close(graceMs);
      for (const c of closers.reverse()) await c().catch((err: unknown) => log.error({ err }, "shutdown step failed"));
    },
  };
}
