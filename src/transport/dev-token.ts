// GET /v1/dev/token (dev mode only): hands the practice page a token. The socket's address is the
// only thing that says "this is the developer's own machine", so the endpoint answers only when
// dev mode binds a loopback address, only to a loopback peer that came directly (a same-host
// reverse proxy would forward anyone: any forwarding header refuses), and only for a loopback
// Host (a page on another site whose name resolves to 127.0.0.1, DNS rebinding, is refused).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { hasForwardingHeaders, isLoopbackAddress, isLoopbackHost } from "./client-address.js";
import { sendJson } from "./http.js";

function hostOnly(hostHeader: string | undefined): string {
  const h = (hostHeader ?? "").trim();
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(h);
  if (bracketed) return bracketed[1]!;
  return h.replace(/:\d+$/, "");
}

/** Why a dev token is refused for this request, or null when it may be minted. */
export function devTokenRefusal(req: IncomingMessage, config: Pick<Config, "host">): string | null {
  if (!isLoopbackHost(config.host)) return "dev tokens are served only while dev mode binds a loopback address";
  if (!isLoopbackAddress(req.socket.remoteAddress)) return "dev tokens are for loopback clients";
  if (hasForwardingHeaders(req)) return "dev tokens are not served through a proxy";
  if (!isLoopbackHost(hostOnly(req.headers.host))) return "dev tokens are served to localhost pages only";
  return null;
}

export function devTokenHandler(mint: () => Promise<string>, config: Pick<Config, "host">, log: Logger) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const refusal = devTokenRefusal(req, config);
    if (refusal) {
      log.warn({ peer: req.socket.remoteAddress, host: req.headers.host, reason: refusal }, "dev token refused");
      return sendJson(res, 403, { error: "forbidden", message: refusal });
    }
    sendJson(res, 200, { token: await mint() });
  };
}
