// Who is the client? The socket's peer, unless that peer is one of the configured proxies
// (`trustedProxies`), in which case X-Forwarded-For is read from the right, skipping addresses of
// trusted proxies, and the first address that is not one is the client. Reading from the right
// matters: every entry left of the last trusted hop was written by whoever sent the request, so
// the leftmost entry is whatever an attacker wants it to be.
import { BlockList, isIP } from "node:net";
import type { IncomingMessage } from "node:http";

/** Headers a reverse proxy adds; their presence means the socket's peer is not the client. */
export const FORWARDING_HEADERS = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "x-client-ip", "true-client-ip", "cf-connecting-ip", "via"] as const;

/** "::ffff:10.0.0.1" -> "10.0.0.1"; drops an IPv6 zone ("fe80::1%eth0"); lower-cases IPv6. */
export function normalizeAddress(address: string): string {
  let a = address.trim();
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return mapped[1]!;
  return a.includes(":") ? a.toLowerCase() : a;
}

function splitCidr(entry: string): { address: string; prefix: number | null } | null {
  const slash = entry.indexOf("/");
  const address = normalizeAddress(slash >= 0 ? entry.slice(0, slash) : entry);
  const family = isIP(address);
  if (family === 0) return null;
  if (slash < 0) return { address, prefix: null };
  const p = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p)) return null;
  const prefix = Number(p);
  if (prefix > (family === 4 ? 32 : 128)) return null;
  return { address, prefix };
}

export function isAddressOrCidr(entry: string): boolean {
  return splitCidr(entry.trim()) !== null;
}

/** True for a list entry that matches every address ("0.0.0.0/0", "::/0"). */
export function matchesEverything(entry: string): boolean {
  const c = splitCidr(entry.trim());
  return c !== null && c.prefix === 0;
}

export function addressSet(entries: readonly string[]): { has(address: string): boolean; size: number } {
  const list = new BlockList();
  for (const raw of entries) {
    const c = splitCidr(raw.trim());
    if (!c) throw new Error(`not an IP address or CIDR block: ${JSON.stringify(raw)}`);
    const type = isIP(c.address) === 4 ? "ipv4" : "ipv6";
    if (c.prefix === null) list.addAddress(c.address, type);
    else list.addSubnet(c.address, c.prefix, type);
  }
  return {
    size: entries.length,
    has(address: string) {
      const a = normalizeAddress(address);
      const family = isIP(a);
      if (family === 0) return false;
      return list.check(a, family === 4 ? "ipv4" : "ipv6");
    },
  };
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = normalizeAddress(address);
  return a === "::1" || (isIP(a) === 4 && a.startsWith("127."));
}

/** A bind host or URL host that can only be reached from this machine. Names other than localhost are not trusted to resolve to loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || isLoopbackAddress(h);
}

export function hasForwardingHeaders(req: IncomingMessage): boolean {
  return FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined);
}

/** One X-Forwarded-For entry: "1.2.3.4", "1.2.3.4:5678", "[::1]:80", "::1". Null when it is not an address. */
function parseForwardedEntry(entry: string): string | null {
  let e = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed) e = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(e)) e = e.slice(0, e.lastIndexOf(":"));
  const a = normalizeAddress(e);
  return isIP(a) ? a : null;
}

/** Builds `req -> client address` for the configured proxies. */
export function clientAddressResolver(trustedProxies: readonly string[]): (req: IncomingMessage) => string {
  const trusted = addressSet(trustedProxies);
  return (req) => {
    const peer = req.socket.remoteAddress ? normalizeAddress(req.socket.remoteAddress) : "unknown";
    if (trusted.size === 0 || !trusted.has(peer)) return peer;
    const header = req.headers["x-forwarded-for"];
    const value = Array.isArray(header) ? header.join(",") : header;
    if (!value) return peer;
    const hops = value.split(",");
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const a = parseForwardedEntry(hops[i]!);
      // An entry a trusted proxy wrote that is not an address: the chain cannot be read past it.
      if (a === null) return client;
      if (!trusted.has(a)) return a;
      client = a;
    }
    return client;
  };
}
