// TLS material: a dev certificate generated once into the data dir, a hardened cipher policy,
// and hot reload (file change or SIGHUP) through setSecureContext, which affects new handshakes
// only: open connections keep their session.
import { X509Certificate, createHash } from "node:crypto";
import { existsSync, readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Server as HttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
import type { Logger } from "../util/log.js";
import { ensurePrivateDir, restrictFile, writePrivateFile } from "../util/private-files.js";

/** TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only. TLS 1.3 suites are all both. */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
];
const TLS13_CIPHERS = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

export const TLS_POLICY = {
  minVersion: "TLSv1.2",
  ciphers: [...TLS13_CIPHERS, ...TLS12_CIPHERS].join(":"),
  honorCipherOrder: true,
  ecdhCurve: "X25519:prime256v1:secp384r1",
} as const satisfies SecureContextOptions;

export interface TlsFiles {
  cert: string;
  key: string;
  generated: boolean;
}

export function fingerprint(certPem: string): string {
  // The first certificate in the file is the leaf; X509Certificate parses just that one.
  return new X509Certificate(certPem).fingerprint256;
}

export function certSha256(certPem: string): string {
  return createHash("sha256").update(new X509Certificate(certPem).raw).digest("hex");
}

/** A self-signed certificate for localhost/127.0.0.1/::1, generated once and reused. */
export async function ensureDevCertificate(dataDir: string): Promise<TlsFiles> {
  const dir = join(dataDir, "tls");
  const cert = join(dir, "dev-cert.pem");
  const key = join(dir, "dev-key.pem");
  if (existsSync(cert) && existsSync(key)) {
    const x = new X509Certificate(readFileSync(cert));
    if (new Date(x.validTo).getTime() > Date.now() + 24 * 3600 * 1000) {
      restrictFile(key);
      return { cert, key, generated: false };
    }
  }
  ensurePrivateDir(dir);
  const { generate } = await import("selfsigned");
  const pems = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    curve: "P-256",
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  writePrivateFile(key, pems.private);
  writePrivateFile(cert, pems.cert);
  return { cert, key, generated: true };
}

export function readTlsOptions(files: { cert: string; key: string }): SecureContextOptions {
  return { ...TLS_POLICY, cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

/**
 * Watches the certificate and key files (their directories, since tools replace files by rename)
 * and SIGHUP; on change, loads both and swaps the server's secure context. A half-written pair
 * fails to load and is retried on the next change; the old context stays in use meanwhile.
 */
export class CertificateReloader {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private current: string;
  private readonly onHup = () => this.reload("SIGHUP");

  constructor(
    private readonly server: HttpsServer,
    private readonly files: { cert: string; key: string },
    private readonly debounceMs: number,
    private readonly log: Logger,
    private readonly onReload?: (fingerprint: string) => void,
  ) {
    this.current = fingerprint(readFileSync(files.cert, "utf8"));
  }

  start(): void {
    const names = new Set([basename(this.files.cert), basename(this.files.key)]);
    for (const dir of new Set([dirname(this.files.cert), dirname(this.files.key)])) {
      const w = watch(dir, (_event, name) => {
        if (!name || names.has(name.toString())) this.schedule();
      });
      w.on("error", (err) => this.log.warn({ err }, "certificate watcher failed"));
      this.watchers.push(w);
    }
    process.on("SIGHUP", this.onHup);
  }

  private schedule() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload("file change"), this.debounceMs);
    this.timer.unref();
  }

  reload(trigger: string): boolean {
    try {
      const opts = readTlsOptions(this.files);
      const fp = fingerprint(String(opts.cert));
      this.server.setSecureContext(opts);
      if (fp !== this.current) {
        this.current = fp;
        this.log.info({ trigger, fingerprint: fp }, "TLS certificate reloaded");
        this.onReload?.(fp);
      }
      return true;
    } catch (err) {
      this.log.warn({ err, trigger }, "TLS certificate reload failed; keeping the previous certificate");
      return false;
    }
  }

  get fingerprint(): string {
    return this.current;
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearTimeout(this.timer);
    process.off("SIGHUP", this.onHup);
  }
}
