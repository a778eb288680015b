// Reading a key set or an introspection answer from a server we do not control: the body is read
// as it streams and the request is aborted once it passes a byte cap, so a huge (or endless)
// response costs at most the cap in memory and never blocks the event loop on one giant parse.

export class ResponseTooLarge extends Error {
  constructor(
    readonly limit: number,
    readonly declared: number | null,
  ) {
    super(declared !== null ? `response declares ${declared} bytes, over the ${limit}-byte limit` : `response passed the ${limit}-byte limit`);
    this.name = "ResponseTooLarge";
  }
}

/**
 * fetch() whose body is read to text with at most `maxBytes`. `signal` (a caller's timeout) and the
 * cap both abort the underlying request, so the server's socket is closed, not drained.
 */
export async function fetchCappedText(
  url: string | URL,
  init: RequestInit & { signal?: AbortSignal | null },
  maxBytes: number,
): Promise<{ status: number; headers: Headers; text: string }> {
  const own = new AbortController();
  const signal = init.signal ? AbortSignal.any([init.signal, own.signal]) : own.signal;
  const res = await fetch(url, { ...init, signal });
  try {
    const declared = res.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBytes) throw new ResponseTooLarge(maxBytes, Number(declared));
    if (!res.body) return { status: res.status, headers: res.headers, text: "" };
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw new ResponseTooLarge(maxBytes, null);
      chunks.push(value);
    }
    return { status: res.status, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") };
  } catch (e) {
    own.abort(e);
    throw e;
  }
}
