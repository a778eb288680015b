// Is a shared secret fit for production? Three rules, each with its own message: long enough,
// not an example or placeholder from this project's docs, tests or a tutorial, and random-looking
// enough (an estimate of its entropy). The estimate cannot prove a secret random; it refuses the
// secrets people type (repeats, short alphabets, patterns) and passes what `openssl rand -base64 32`
// or `openssl rand -hex 32` print.

export const MIN_SECRET_BYTES = 32;
/** Below this estimate a secret is refused; 32 random bytes in base64 or hex estimate 190+ bits. */
export const MIN_SECRET_BITS = 128;

/**
 * Secrets that were published somewhere a reader could copy them from: this project's example
 * files, docs and tests. Compared after lower-casing and dropping everything but letters and digits.
 */
export const KNOWN_EXAMPLE_SECRETS: readonly string[] = [
  "change-me-to-at-least-32-random-bytes", // examples/deploy/env.example before 0.2
  "...at least 32 random bytes...", // docs/deploy.md before 0.2
  "test-secret-that-is-at-least-32-bytes-long!!", // test/helpers/gateway.ts
  "another-secret-that-is-long-enough-32b!", // test/transport/auth.test.ts
  "your-256-bit-secret", // jwt.io's default
  "secretkey",
  "supersecret",
];

/** Words that only a placeholder contains; a random 32-byte secret contains one by chance about never. */
const PLACEHOLDER_MARKERS = [
  "changeme",
  "replaceme",
  "replacewith",
  "placeholder",
  "example",
  "yoursecret",
  "mysecret",
  "secretkey",
  "password",
  "atleast32",
  "randombytes",
  "opensslrand",
  "insecure",
  "notasecret",
  "dummy",
];

const normalize = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
const KNOWN = new Set(KNOWN_EXAMPLE_SECRETS.map(normalize));

/** Bits of entropy a secret could at most carry, from its length, its alphabet, its symbol frequencies and its repeats. */
export function estimateSecretBits(secret: string): number {
  const chars = [...secret];
  const n = chars.length;
  if (n === 0) return 0;
  let alphabet = 0;
  if (/[a-z]/.test(secret)) alphabet += 26;
  if (/[A-Z]/.test(secret)) alphabet += 26;
  if (/[0-9]/.test(secret)) alphabet += 10;
  if (/[^a-zA-Z0-9]/.test(secret)) alphabet += 33;
  const classBits = n * Math.log2(Math.max(alphabet, 2));

  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const k of counts.values()) h -= (k / n) * Math.log2(k / n);
  const shannonBits = h * n;

  // Repeated trigrams ("abcabcabc", "0123456789" twice) carry nothing new.
  let distinctShare = 1;
  if (n >= 3) {
    const tri = new Set<string>();
    for (let i = 0; i + 3 <= n; i++) tri.add(chars.slice(i, i + 3).join(""));
    distinctShare = tri.size / (n - 2);
  }
  return Math.min(classBits, shannonBits) * distinctShare;
}

/** Null when the secret passes; otherwise why it does not (without echoing the secret). */
export function secretWeakness(secret: string, opts: { minBytes?: number; minBits?: number } = {}): string | null {
  const minBytes = opts.minBytes ?? MIN_SECRET_BYTES;
  const minBits = opts.minBits ?? MIN_SECRET_BITS;
  const bytes = Buffer.byteLength(secret, "utf8");
  if (bytes < minBytes) return `is ${bytes} bytes; it must be at least ${minBytes}`;
  const norm = normalize(secret);
  if (KNOWN.has(norm)) return "is a published example value; anyone who read it can mint tokens";
  const marker = PLACEHOLDER_MARKERS.find((m) => norm.includes(m));
  if (marker) return `looks like a placeholder (contains "${marker}")`;
  const bits = estimateSecretBits(secret);
  if (bits < minBits) return `looks too weak (about ${Math.floor(bits)} bits of entropy by estimate; at least ${minBits} needed)`;
  return null;
}

/** For secrets parlance does not choose (an identity provider's client secret): placeholders only. */
export function placeholderWeakness(secret: string): string | null {
  const norm = normalize(secret);
  if (KNOWN.has(norm)) return "is a published example value";
  const marker = PLACEHOLDER_MARKERS.find((m) => norm.includes(m));
  return marker ? `looks like a placeholder (contains "${marker}")` : null;
}

export const SECRET_ADVICE = "generate one with `openssl rand -base64 32`";
