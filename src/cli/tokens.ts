// `parlance token` (dev tokens) and `parlance keys` (a dev key pair and JWKS for testing a
// production-like verifier).
import type { Command } from "commander";
import { resolve } from "node:path";
import { devSecret, devSubject, mintDevToken, parseTtl, writeDevKeys } from "../auth/dev.js";
import { configFromCommand } from "./options.js";

export function registerTokenCommands(program: Command): void {
  const token = program
    .command("token")
    .description("mint a development token signed with the dev secret (dev mode only)")
    .option("--sub <subject>", "subject (learner id); default: a new dev-learner-<random> subject per token")
    .option("--ttl <ttl>", "lifetime, e.g. 15m, 1h, 7d", "1h")
    .option("--level <cefr>", "learner level claim, e.g. B1")
    .option("--scope <scopes>", "space-separated scopes")
    .option("--dev", "dev mode (PARLANCE_DEV)")
    .option("--data-dir <dir>", "data dir holding the dev secret (PARLANCE_DATA_DIR)")
    .option("--config <file>", "config file");
  token.action(async (o: { sub?: string; ttl: string; level?: string; scope?: string }) => {
    const config = configFromCommand(token);
    if (!config.dev) {
      console.error("parlance token is for dev mode only (set PARLANCE_DEV=1 or --dev); production tokens come from your identity provider");
      process.exit(2);
    }
    const claims: Record<string, unknown> = {};
    if (o.level) claims.level = o.level;
    if (o.scope) claims.scope = o.scope;
    const sub = o.sub ?? devSubject();
    if (!o.sub) process.stderr.write(`subject: ${sub}\n`);
    const jwt = await mintDevToken(devSecret(resolve(config.dataDir)), {
      sub,
      ttlSeconds: parseTtl(o.ttl),
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      claims,
    });
    process.stdout.write(jwt + "\n");
  });

  program
    .command("keys")
    .description("generate a dev signing key pair and a JWKS file (private.pem, public.pem, jwks.json)")
    .option("--out <dir>", "output directory", "data/keys")
    .option("--alg <alg>", "ES256 | RS256 | EdDSA", "ES256")
    .action(async (o: { out: string; alg: "ES256" | "RS256" | "EdDSA" }) => {
      const { kid, files } = await writeDevKeys(resolve(o.out), o.alg);
      process.stdout.write(`kid ${kid}\n${files.join("\n")}\nUse PARLANCE_JWT_PUBLIC_KEY=${files[1]} (or serve jwks.json and set PARLANCE_JWKS_URL).\n`);
    });
}
