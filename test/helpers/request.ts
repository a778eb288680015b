// One HTTP(S) request with any headers, for tests of what the gateway does with headers a proxy
// (or an attacker) adds.
import { request as httpsRequest, Agent } from "node:https";
import { request as httpRequest } from "node:http";
import { checkServerIdentity } from "node:tls";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

export function send(url: string, opts: { method?: string; headers?: Record<string, string>; ca?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const make = u.protocol === "https:" ? httpsRequest : httpRequest;
    const req = make(
      u,
      {
        method: opts.method ?? "GET",
        headers: opts.headers ?? {},
        ...(u.protocol === "https:" ? { agent: new Agent({ ca: opts.ca }) } : {}),
        // A test that sends its own Host header still checks the certificate, against the URL's host.
        ...(opts.headers?.host ? { checkServerIdentity: (_: string, cert: Parameters<typeof checkServerIdentity>[1]) => checkServerIdentity(u.hostname, cert) } : {}),
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          let body: unknown = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            body = null;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, body });
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${opts.method ?? "GET"} ${url} timed out`)));
    req.on("error", reject);
    req.end(opts.body);
  });
}
