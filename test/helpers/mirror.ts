// A loopback model mirror for download tests: serves files by name from disk with HTTP Range
// support, an optional SHA256SUMS, and can cut the connection part-way through a response (or
// stop sending on an open one) to exercise resume. Records every request. Stops itself at the end of the test.
import { createReadStream, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after } from "node:test";

export interface MirrorOptions {
  /** File name on the mirror -> path on disk. */
  files: Record<string, string>;
  /** Body of /SHA256SUMS, if any. */
  sha256sums?: string;
  /** Cut the connection after this many body bytes, for the first `times` requests of each file. */
  cut?: { afterBytes: number; times: number };
  /** Send this many body bytes, then keep the connection open and silent, for the first `times` requests of each file. */
  stall?: { afterBytes: number; times: number };
  /** Answer 200 with the whole file even when a Range is asked (a server without Range support). */
  ignoreRange?: boolean;
}

export interface Mirror {
  url: string;
  requests: { path: string; range: string | null; status: number }[];
  close(): Promise<void>;
}

export async function startMirror(opts: MirrorOptions): Promise<Mirror> {
  const requests: Mirror["requests"] = [];
  const cuts = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const name = decodeURIComponent((req.url ?? "/").slice(1));
    const range = req.headers.range ?? null;
    const record = (status: number) => requests.push({ path: name, range, status });
    if (name === "SHA256SUMS" && opts.sha256sums !== undefined) {
      record(200);
      res.writeHead(200, { "content-type": "text/plain" }).end(opts.sha256sums);
      return;
    }
    const file = opts.files[name];
    if (!file) {
      record(404);
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    let start = 0;
    let status = 200;
    const m = !opts.ignoreRange && range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) {
      start = Number(m[1]);
      if (start >= size) {
        record(416);
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
    record(status);
    const headers: Record<string, string | number> = { "content-length": size - start, "accept-ranges": "bytes" };
    if (status === 206) headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(status, headers);
    const n = cuts.get(name) ?? 0;
    const cut = opts.cut && n < opts.cut.times ? opts.cut.afterBytes : null;
    const stall = opts.stall && n < opts.stall.times ? opts.stall.afterBytes : null;
    cuts.set(name, n + 1);
    if (stall !== null) {
      // Send `stall` bytes, then nothing: the socket stays open until the client gives up.
      createReadStream(file, { start, end: start + stall - 1 }).on("data", (chunk) => res.write(chunk));
      return;
    }
    const stream = createReadStream(file, { start, ...(cut !== null ? { end: start + cut - 1 } : {}) });
    if (cut === null) {
      stream.pipe(res);
      return;
    }
    // Send `cut` bytes, then drop the TCP connection mid-body.
    stream.on("data", (chunk) => res.write(chunk));
    stream.on("end", () => setTimeout(() => res.socket?.destroy(), 20));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  after(close);
  return { url, requests, close };
}
