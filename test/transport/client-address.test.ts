// Issue 12: forwarded headers are believed only from configured proxies. Unit properties of the
// resolver on generated header values, then a real gateway whose per-address cap on sockets
// waiting for auth shows which address it counted.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import fc from "fast-check";
import { clientAddressResolver, isAddressOrCidr, addressSet, normalizeAddress } from "../../src/transport/client-address.js";
import { connect, startTestGateway } from "../helpers/gateway.js";

const SEED = 4242;
const req = (peer: string, xff?: string | string[]) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } }) as unknown as IncomingMessage;

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join("."));
const ipv6 = fc.ipV6();
const ip = fc.oneof(ipv4, ipv6);
/** Whatever a client may put in the header: addresses, ports, garbage, separators. */
const junkEntry = fc.oneof(ip, ipv4.map((a) => `${a}:443`), ipv6.map((a) => `[${a}]:80`), fc.string({ maxLength: 20 }), fc.constant("unknown"), fc.constant(""));
const clientXff = fc.array(junkEntry, { maxLength: 8 }).map((a) => a.join(","));

describe("resolver", () => {
  test("no trusted proxies: the socket peer, whatever the header says", () => {
    const resolve = clientAddressResolver([]);
    fc.assert(
      fc.property(ip, clientXff, (peer, xff) => {
        assert.equal(resolve(req(peer, xff)), normalizeAddress(peer));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  test("a peer that is not a trusted proxy is the client, whatever it claims", () => {
    const resolve = clientAddressResolver(["10.0.0.0/8"]);
    fc.assert(
      fc.property(ipv4.filter((a) => !a.startsWith("10.")), clientXff, (peer, xff) => {
        assert.equal(resolve(req(peer, xff)), peer);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  test("through trusted proxies: the address the last trusted proxy saw, never one the client wrote", () => {
    const proxies = ["10.0.0.5", "10.0.1.0/24"];
    const resolve = clientAddressResolver(proxies);
    const trusted = addressSet(proxies);
    const proxyAddr = fc.oneof(fc.constant("10.0.0.5"), fc.nat(255).map((n) => `10.0.1.${n}`));
    fc.assert(
      fc.property(clientXff, ipv4.filter((a) => !trusted.has(a)), fc.array(proxyAddr, { maxLength: 3 }), proxyAddr, (spoofed, real, hops, peer) => {
        // The client sent `spoofed`; the first proxy appended the real address, later proxies their predecessors'.
        const header = [spoofed, real, ...hops].filter((x) => x !== "").join(", ");
        assert.equal(resolve(req(peer, header)), real, header);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  test("several X-Forwarded-For headers read as one list; ports, brackets and v4-mapped forms are normalized", () => {
    const resolve = clientAddressResolver(["127.0.0.1", "::1"]);
    assert.equal(resolve(req("::ffff:127.0.0.1", ["6.6.6.6", "203.0.113.9"])), "203.0.113.9");
    assert.equal(resolve(req("::1", "203.0.113.9:5123")), "203.0.113.9");
    assert.equal(resolve(req("::1", "[2001:DB8::1]:443")), "2001:db8::1");
    assert.equal(resolve(req("::1", "::ffff:198.51.100.7")), "198.51.100.7");
    // A trusted proxy that wrote garbage: stop at the proxy itself, never take the client's words.
    assert.equal(resolve(req("127.0.0.1", "6.6.6.6, not-an-ip")), "127.0.0.1");
    // Every hop trusted: the leftmost trusted one.
    assert.equal(resolve(req("127.0.0.1", "::1, 127.0.0.1")), "::1");
    assert.equal(resolve(req("127.0.0.1")), "127.0.0.1");
  });

  test("CIDR parsing", () => {
    for (const ok of ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "::ffff:10.0.0.1", "0.0.0.0/0"]) assert.ok(isAddressOrCidr(ok), ok);
    for (const bad of ["nginx", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.256", "", "10.0.0.0/8/8"]) assert.ok(!isAddressOrCidr(bad), bad);
  });
});

describe("gateway counts the address it believes", () => {
  // Two sockets per address may wait for auth; the third from the same address gets 429.
  const limits = { PARLANCE_LIMITS_MAX_PENDING_AUTH_PER_IP: "2", PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "3000" };
  const open = (gw: { wsUrl: string; ca: string }, xff?: string) => connect(gw.wsUrl, gw.ca, xff ? { headers: { "x-forwarded-for": xff } } : {});

  test("without trusted proxies, X-Forwarded-For changes nothing: one client cannot pose as many", async () => {
    // behind-proxy on purpose: before issue 12 it made the first X-Forwarded-For entry the client.
    const gw = await startTestGateway({ ...limits, PARLANCE_BEHIND_PROXY: "1" });
    const a = await open(gw, "198.51.100.1");
    const b = await open(gw, "198.51.100.2");
    await assert.rejects(open(gw, "198.51.100.3"), /HTTP 429/);
    a.ws.close();
    b.ws.close();
  });

  test("behind a trusted proxy, clients are told apart by the address it forwards, not by what they prepend", async () => {
    const gw = await startTestGateway({ ...limits, PARLANCE_TRUSTED_PROXIES: "127.0.0.1,::1" });
    const held = [await open(gw, "198.51.100.1"), await open(gw, "198.51.100.2"), await open(gw, "198.51.100.3")];
    // One client (198.51.100.9) prepending a fresh fake address each time is still one client.
    held.push(await open(gw, "1.1.1.1, 198.51.100.9"), await open(gw, "2.2.2.2, 198.51.100.9"));
    await assert.rejects(open(gw, "3.3.3.3, 198.51.100.9"), /HTTP 429/);
    for (const c of held) c.ws.close();
  });
});
