// Every setting of parlance, in one zod schema. Each leaf has a public env name and a flag
// (see fields.ts); defaults here are the safe ones.
import { z } from "zod";
import { isAddressOrCidr } from "../transport/client-address.js";
import { MAX_AUTH_MESSAGE_BYTES } from "../protocol/messages.js";
import { PROMPT_VERSION, PROMPT_VERSIONS } from "../analysis/prompt-versions.js";

/** A duration in ms; `min` where a smaller value would break the feature (refused, not bent). */
const ms = (d: number, min = 0) => z.coerce.number().int().min(min).default(d);
const list = z.preprocess(
  (v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v),
  z.array(z.string()),
);
const bool = z.preprocess((v) => {
  if (typeof v === "string") {
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off|)$/i.test(v)) return false;
  }
  return v;
}, z.boolean());
const optionalString = z.string().min(1).optional();
/** IP addresses or CIDR blocks ("10.0.0.5", "10.0.0.0/8", "fd00::/8"); a bad entry is named at start-up. */
const addressList = list.pipe(z.array(z.string().refine(isAddressOrCidr, { message: "not an IP address or CIDR block" })));

export const ConfigSchema = z.object({
  /** Dev mode: dev JWT secret and token endpoint, self-signed certificate, sample curriculum (loopback only). */
  dev: bool.default(false),
  /** Address the gateway listens on; 0.0.0.0 accepts remote clients. */
  host: z.string().default("127.0.0.1"),
  /** Port of the wss:// and REST listener; 0 = any free port. */
  port: z.coerce.number().int().min(0).max(65535).default(8443),
  /** SQLite file (one machine), dev certificate, and the default models directory. */
  dataDir: z.string().default("data"),
  /** Serve plain HTTP/ws behind a TLS-terminating proxy instead of TLS. */
  behindProxy: bool.default(false),
  /**
   * Peers whose forwarding headers (X-Forwarded-For) are believed: the proxies in front of this
   * gateway. Empty = nobody's, and the socket's address is the client's (docs/security.md).
   */
  trustedProxies: addressList.default([]),
  /** pino JSON log level. */
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** On SIGTERM, how long open sessions and running analyses get to finish. */
  shutdownGraceMs: ms(15000),
  /** Past shutdownGraceMs, how long closing may still take before the process exits 1 anyway. */
  shutdownHardExitMs: ms(5000),
  /** Other origins allowed to connect from browsers; empty = any (tokens are the gate). */
  allowedOrigins: list.default([]),

  tls: z
    .object({
      cert: optionalString, // PEM: leaf first, then intermediates
      /** PEM private key of the certificate; both are reloaded on change and on SIGHUP. */
      key: optionalString,
      /** After a certificate file changes, wait this long before reloading (renewals write cert and key one after the other). */
      reloadDebounceMs: ms(500),
    })
    .prefault({}),

  jwt: z
    .object({
      /** HS256 secret (`openssl rand -base64 32`; a typed phrase is refused in production). */
      secret: optionalString,
      publicKey: optionalString, // path to a PEM or JWK file
      /** The identity provider's key set (https:// only). */
      jwksUrl: z.url().optional(),
      /** Required `iss` claim. */
      issuer: optionalString,
      /** Required `aud` claim. */
      audience: optionalString,
      /** Accepted signature algorithms; unset = the ones the key type allows. */
      algorithms: list.optional(),
      /** RFC 7662 endpoint for opaque tokens (https:// only). */
      introspectionUrl: z.url().optional(),
      /** HTTP Basic user sent to the introspection endpoint. */
      introspectionClientId: optionalString,
      /** HTTP Basic password sent to the introspection endpoint. */
      introspectionClientSecret: optionalString,
      /** Clock skew allowed on exp, nbf and iat. */
      clockToleranceS: z.coerce.number().int().min(0).max(300).default(30),
      /** Least time between two key set refetches for an unknown `kid`. */
      jwksCooldownMs: ms(30000),
      /** A fetched key set is used for at most this long before it is fetched again. */
      jwksCacheMaxAgeMs: ms(600000),
      /** A key set fetch not answered by then fails closed. */
      jwksTimeoutMs: ms(5000, 1),
      /** A JWKS response larger than this is aborted while it streams (real key sets are a few KB). */
      jwksMaxBytes: z.coerce.number().int().positive().default(256 * 1024),
      /** A JWKS with more keys than this is refused (providers publish a handful during rotation). */
      jwksMaxKeys: z.coerce.number().int().positive().default(100),
      /** A scope every token must carry (space-separated `scope` or `scp`). */
      requiredScope: optionalString,
      /** Longest time an introspection answer is reused; never past the token's exp. 0 = not cached. */
      introspectionCacheTtlMs: ms(60000),
      /** Introspection answers kept at once; the least recently used goes first. */
      introspectionCacheMaxEntries: z.coerce.number().int().positive().default(10000),
      /** An introspection response larger than this is aborted (a real one is well under 4 KB). */
      introspectionMaxBytes: z.coerce.number().int().positive().default(64 * 1024),
      /** An introspection POST not answered by then fails closed (the token is refused). */
      introspectionTimeoutMs: ms(5000, 1),
      /** Longest `sub` accepted (characters); a longer one is refused. At most 500, what the store accepts. */
      maxSubjectChars: z.coerce.number().int().min(1).max(500).default(256),
      /** Longest `level`/`locale` claim kept (characters); a longer one is ignored (it reaches the LLM prompt). */
      maxClaimChars: z.coerce.number().int().min(1).max(1024).default(64),
    })
    .prefault({}),

  /**
   * Explicit overrides of production refusals (src/config/safety.ts). Each one used is logged as a
   * warning at start-up.
   */
  allowInsecure: z
    .object({
      /** http:// JWKS URL, for a sidecar on a loopback address only. */
      jwksUrl: bool.default(false),
      /** http:// introspection URL, for a sidecar on a loopback address only. */
      introspectionUrl: bool.default(false),
      /** Dev mode (dev secret, token endpoint) on a non-loopback address. */
      devOnNetwork: bool.default(false),
    })
    .prefault({}),

  metrics: z
    .object({
      /** Bearer token that /metrics requires. Without it (and without `port`), only direct loopback peers get /metrics. */
      token: optionalString,
      /** Set = /metrics is served on its own plain-HTTP listener at host:port, not on the main port. */
      port: z.coerce.number().int().min(0).max(65535).optional(),
      /** Address of the separate /metrics listener (with `port`). */
      host: z.string().default("127.0.0.1"),
      /** `parlance worker`'s /metrics listener, at host:workerPort (same token rule as `port`); 0 = any free port. */
      workerPort: z.coerce.number().int().min(0).max(65535).default(9465),
    })
    .prefault({}),

  limits: z
    .object({
      /** A socket that has not sent a valid `auth` by then is closed. */
      authTimeoutMs: ms(5000),
      /** Open sockets per gateway; more are refused with 503. */
      maxConnections: z.coerce.number().int().positive().default(1000),
      /** Sockets one address may have waiting for `auth`; more are refused with 429. */
      maxPendingAuthPerIp: z.coerce.number().int().positive().default(64),
      /**
       * Largest binary frame after auth: 1 s of 48 kHz stereo f32 is 384000 bytes. At least the
       * pre-auth frame limit: the socket's payload cap is this one, and the auth message must fit.
       */
      maxFrameBytes: z.coerce.number().int().min(MAX_AUTH_MESSAGE_BYTES).default(512 * 1024),
      /** A session that receives no audio for this long is closed; 0 = never. */
      idleTimeoutMs: ms(30000),
      /** Longest session; also the age after which workers recover a crashed gateway's sessions. 0 = no limit. */
      maxSessionMs: ms(60 * 60 * 1000),
      /** WebSocket ping interval; a peer that misses a pong is closed. 0 = no pings. */
      pingIntervalMs: ms(15000),
      /** Bytes queued to a client that does not read; partials are dropped first, then it closes. */
      maxBufferedBytes: z.coerce.number().int().positive().default(1024 * 1024),
      /** A session outlives its token's `exp` by this much before it is closed (4401). */
      tokenExpiryGraceMs: ms(0),
      // Network surface limits (docs/security.md, "Network surface: limits").
      /** A TCP connection that has not finished its TLS handshake by then is dropped. */
      tlsHandshakeTimeoutMs: z.coerce.number().int().positive().default(10000),
      /** Connections accepted but not through TLS yet; the excess is dropped at accept. */
      maxPendingTls: z.coerce.number().int().positive().default(256),
      /** After a close before `ready`, how long the peer gets to answer the close frame. */
      preAuthCloseGraceMs: ms(500),
      /** Audio a learner may send, as a multiple of real time, across their sessions; 0 = no limit. */
      audioRealtimeRatio: z.coerce.number().min(0).default(2),
      /** Audio (ms) a learner may send ahead of that rate (reconnect catch-up); at least one 1 s frame. */
      audioBurstMs: z.coerce.number().int().min(1000).default(20000),
      /** Audio received but not decoded yet, per session (16 kHz float32 bytes: 64000 = 1 s). */
      maxUndecodedAudioBytes: z.coerce.number().int().min(64000).default(1_920_000),
      /** Sessions one subject may have open at once; 0 = no limit. */
      maxSessionsPerSubject: z.coerce.number().int().min(0).default(4),
      /** Least time between two `reauth` verifications on one session. */
      reauthMinIntervalMs: ms(1000),
      /** Least time between two repeats of one non-fatal notice (audio dropped, reauth ignored) on a session. */
      noticeIntervalMs: ms(1000),
      /** HTTP: a request whose headers have not all arrived by then is answered 408 and closed. */
      httpHeadersTimeoutMs: z.coerce.number().int().positive().default(10000),
      /** HTTP: a whole request (headers and body) must arrive within this. */
      httpRequestTimeoutMs: z.coerce.number().int().positive().default(30000),
      /** A refused upgrade's answer is written, then its socket is dropped after this even if the peer never reads. */
      refusedUpgradeGraceMs: z.coerce.number().int().positive().default(1000),
    })
    .prefault({}),

  modelsDir: z.string().optional(), // default: <dataDir>/models

  /** Where `parlance models pull` and the first start download model files from (src/models/). */
  models: z
    .object({
      /** A mirror serving every catalogue file by its file name; unset = each file's official URL. */
      baseUrl: z.url().optional(),
      /** Accept a file the mirror's SHA256SUMS lists even where it differs from the published checksum (warns). */
      trustMirrorChecksums: bool.default(false),
      /** Dev mode: download missing default models at start without asking (PARLANCE_AUTO_PULL, `serve --pull`). */
      autoPull: bool.default(false),
      /** Resume attempts after a cut or stalled connection, per file and command. */
      downloadRetries: z.coerce.number().int().min(0).default(3),
      /** Wait before the first resume; doubles for each further one. */
      downloadRetryBaseMs: ms(250),
      /** A download that receives no bytes for this long is cut and resumed (counts as a retry). */
      downloadStallMs: ms(30000, 1),
      /** A mirror's SHA256SUMS larger than this is not read (it lists a few files: a few KB). */
      checksumListMaxBytes: z.coerce.number().int().positive().default(1024 * 1024),
    })
    .prefault({}),

  stt: z
    .object({
      /** A name in the STT engine registry (src/stt/engines.ts): embedded, remote, fake, or one registered there. */
      engine: z.string().min(1).default("embedded"),
      /** Embedded Whisper model: a catalogue name (`tiny.en`, `base.en`) or a ggml file in the models dir, or a path. */
      model: z.string().default("tiny.en"),
      threads: z.coerce.number().int().min(0).default(0), // 0 = decide from cores
      url: z.url().optional(), // remote: OpenAI-compatible base URL
      /** Remote: bearer token for the STT server. */
      apiKey: optionalString,
      /** Remote: the model name sent to the STT server. */
      remoteModel: z.string().default("whisper-1"),
      /** Remote engine: one transcription request may take this long before it fails (retryable). */
      remoteTimeoutMs: ms(30000, 1),
      /** Remote engine: requests in flight at once when stt.maxStreams is 0 (the server's slots). */
      remoteConcurrency: z.coerce.number().int().min(1).default(4),
      /** Remote engine: sessions admitted when stt.maxStreams is 0 (no measurement: the server's cost is not ours to time). */
      remoteStreams: z.coerce.number().int().min(1).default(16),
      // Below these floors a decode could not finish before the next one is due (update
      // cadence), or a window holds too little speech for Whisper (maxWindowMs).
      /** Decode cadence: every this much new audio with speech, the window is decoded and a `partial` sent. */
      updateMs: ms(1000, 100),
      /** The first decode after silence, this soon after speech starts (the first partial). */
      firstUpdateMs: ms(500, 100),
      /** Longest audio window decoded at once; past it the window is committed (`reason: "window"`). */
      maxWindowMs: ms(15000, 2000),
      /** Silence after speech that ends an utterance (its words committed, `utterance_end`). */
      utteranceEndMs: ms(1200, 100),
      /** Audio kept before detected speech, so the first syllable is not cut. */
      preRollMs: ms(300),
      /** Speech events a session may leave unread before its stream fails (a stalled consumer). */
      maxPendingEvents: z.coerce.number().int().min(16).default(1024),
      maxStreams: z.coerce.number().int().min(0).default(0), // 0 = measure capacity at start
      /** Admission: a stream this many updates (stt.updateMs) behind counts as lagging; half the streams lagging refuses new ones. */
      laggingUpdates: z.coerce.number().int().min(1).default(3),
      /** Admission: retry_after_ms told when the capacity is used up. */
      fullRetryAfterMs: ms(5000),
      /** Admission: retry_after_ms told when the streams are behind real time. */
      behindRetryAfterMs: ms(3000),
      /** Admission: retry_after_ms told while the process shuts down. */
      closingRetryAfterMs: ms(30000),
      /** `trim`: the encoder sees only the window's audio (faster); `full`: always 30 s, as Whisper was trained. */
      audioCtx: z.enum(["trim", "full"]).default("trim"),
      /** Trimmed encoder: silence appended after each window, inside the encoder (docs/bench-stt-accuracy.md). */
      padMs: ms(0),
      /** Commit rule: words N consecutive decodes agree on are committed; 0 = each utterance committed whole at its end. */
      agreement: z.coerce.number().int().min(0).max(5).default(0),
      /** Committed text passed to Whisper as the prompt of the next window (its tail, this many characters). */
      promptTailChars: z.coerce.number().int().min(0).default(200),
      /** Prompt Whisper with a verbatim-style preamble (keeps fillers; costs accuracy on learners: docs/bench-stt-accuracy.md). */
      verbatimPrompt: bool.default(false),
      /** Consecutive failed decodes after which a session is closed (1011); 0 = never. */
      maxConsecutiveFailures: z.coerce.number().int().min(0).default(30),
      /** Guards: segments below this mean token log-probability, or above this no-speech probability, are dropped. */
      // Unset = off: at -1 it dropped real learner speech (docs/bench-stt-accuracy.md).
      logprobThreshold: z.coerce.number().optional(),
      /** Segments whose no-speech probability is above this are dropped (the other guard of the pair above). */
      noSpeechThreshold: z.coerce.number().min(0).max(1).default(0.6),
      /** Whisper's silence rule: no-speech probability above noSpeechThreshold and mean log-probability below this. */
      noSpeechLogprobThreshold: z.coerce.number().default(-1),
      /** Drop segments that are exactly a known silence phrase ("Thanks for watching", src/stt/hallucinations.ts). */
      suppressHallucinations: bool.default(true),
    })
    .prefault({}),

  llm: z
    .object({
      /** Who writes the feedback report, a registered provider (analysis/models/factory.ts): `embedded` (node-llama-cpp), `ollama`, `openai` (vLLM, llama-server, ...), `fake` (tests). */
      provider: z.string().min(1).default("embedded"),
      model: z.string().optional(), // GGUF name/path (embedded) or model name (remote)
      /** The LLM server (ollama, openai). */
      baseUrl: z.url().optional(),
      /** Bearer token for the LLM server (also used for OpenAI-compatible curriculum embeddings). */
      apiKey: optionalString,
      /** Embedded: inference threads; 0 = every core. Fewer while live transcription needs them (docs/analysis.md). */
      threads: z.coerce.number().int().min(0).default(0),
      /** Context window in tokens (embedded, ollama). */
      contextSize: z.coerce.number().int().positive().default(4096),
      /** Per LLM call; 0 = no timeout. */
      timeoutMs: ms(120000),
      /** Sampling temperature; 0 = deterministic. */
      temperature: z.coerce.number().min(0).max(2).default(0),
      /** Longest report the LLM may write, in tokens. */
      maxOutputTokens: z.coerce.number().int().positive().default(700),
    })
    .prefault({}),

  analysis: z
    .object({
      /** Also analyse each utterance as it ends (clients can ask per session with `analyze_utterances`). */
      onUtteranceEnd: bool.default(false),
      /** A transcript with fewer words gets no language feedback ("unusable"). */
      minWords: z.coerce.number().int().min(0).default(5),
      /** Prompt version of the LLM's part (src/analysis/prompts): `feedback-v5` finds errors by the model's likelihoods (embedded only; other backends use `feedback-v2`, whose errors the model writes). docs/bench-analysis.md compares them. */
      prompt: z.enum(PROMPT_VERSIONS).default(PROMPT_VERSION),
      /** Words Whisper is less sure of than this count as uncertain in the quality gate. */
      confidenceThreshold: z.coerce.number().min(0).max(1).default(0.5),
      /** Tries per analysis before it fails for good. */
      maxAttempts: z.coerce.number().int().positive().default(6),
      /** Wait before the first retry; doubles each time (with jitter), up to retryMaxMs. */
      retryBaseMs: ms(2000),
      /** Longest wait between two retries. */
      retryMaxMs: ms(120000),
      /** Analyses at once per worker process. */
      concurrency: z.coerce.number().int().positive().default(1),
      /**
       * Embedded LLM only: while live transcription needs every core, an analysis waits up to this
       * long before it starts (then runs on 1 thread). 0 = never wait.
       */
      maxDeferMs: ms(300000),
    })
    // A base above the cap would make every wait the cap: refused rather than silently ignored.
    .refine((a) => a.retryBaseMs <= a.retryMaxMs, { path: ["retryBaseMs"], message: "must not exceed analysis.retryMaxMs (PARLANCE_ANALYSIS_RETRY_MAX_MS)" })
    .prefault({}),

  store: z
    .object({
      databaseUrl: optionalString, // postgres://... ; absent = SQLite in the data dir
    })
    .prefault({}),

  queue: z
    .object({
      redisUrl: optionalString, // set = analysis jobs go to BullMQ workers (`parlance worker`)
      /** "gateway": never loads the LLM; analyses run in `parlance worker` (needs redisUrl). */
      role: z.enum(["all", "gateway"]).default("all"),
      /** Namespace of every Redis key and channel, so one Redis can serve several deployments. */
      prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . - only").default("parlance"),
      /** How often workers re-queue store jobs Redis does not hold and recover crashed gateways' sessions. */
      sweepMs: ms(30000),
      /** Without Redis: how often the in-process queue looks for due jobs in the store (an enqueue wakes it at once). */
      pollMs: ms(1000, 10),
      /** With Redis: how long start-up waits for the report subscription before going on without it (reports then wait in the store), and shutdown for Redis before it cuts the connections. */
      connectTimeoutMs: ms(10000, 1),
      /** With Redis: how long an enqueue waits for Redis before leaving the job to the workers' store sweep. */
      enqueueTimeoutMs: ms(5000, 1),
    })
    .prefault({}),

  curriculum: z
    .object({
      dir: optionalString, // imported at start-up; dev mode defaults to examples/curriculum
      /** Dense embeddings for hybrid ranking: `none` = BM25 only, `embedded` = a local GGUF, `openai` = an OpenAI-compatible endpoint. */
      embeddings: z.enum(["none", "embedded", "openai"]).default("none"),
      /** The embedding model: a GGUF file (embedded) or the model name (openai). */
      embeddingModel: optionalString,
      /** The OpenAI-compatible embeddings server (root, /v1 or the full /v1/embeddings URL). */
      embeddingUrl: z.url().optional(),
      /** OpenAI-compatible embeddings: one request not answered by then fails (search falls back to BM25). */
      embeddingTimeoutMs: ms(30000, 1),
      /** OpenAI-compatible embeddings: texts per request (OpenAI takes at most 2048). */
      embeddingBatchSize: z.coerce.number().int().min(1).max(2048).default(64),
      /** OpenAI-compatible embeddings: a larger response is aborted (64 texts x 1536 floats is ~2 MB of JSON). */
      embeddingMaxBytes: z.coerce.number().int().positive().default(32 * 1024 * 1024),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
