// Versioned schema for PostgreSQL. Append new migrations; never edit an applied one.
import type { Migration } from "../sqlite/migrations.js";

export const POSTGRES_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE sessions (
  id          TEXT PRIMARY KEY,
  subject     TEXT NOT NULL,
  config      JSONB NOT NULL,
  claims      JSONB NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('streaming','ended','interrupted','deleted')),
  created_at  TIMESTAMPTZ NOT NULL,
  ended_at    TIMESTAMPTZ,
  audio_ms    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_subject_created ON sessions (subject, created_at DESC);
CREATE INDEX sessions_status ON sessions (status);

CREATE TABLE segments (
  session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  segment_id  INTEGER NOT NULL,
  text        TEXT NOT NULL,
  start_s     DOUBLE PRECISION NOT NULL,
  end_s       DOUBLE PRECISION NOT NULL,
  words       JSONB NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, segment_id)
);

CREATE TABLE jobs (
  id           TEXT PRIMARY KEY,
  session_id   TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  scope        TEXT NOT NULL CHECK (scope IN ('session','utterance')),
  segment_from INTEGER,
  segment_to   INTEGER,
  status       TEXT NOT NULL CHECK (status IN ('pending','running','done','failed')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,
  run_after    TIMESTAMPTZ NOT NULL,
  locked_by    TEXT,
  created_at   TIMESTAMPTZ NOT NULL,
  updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_after) WHERE status = 'pending';
CREATE INDEX jobs_session ON jobs (session_id);

CREATE TABLE reports (
  seq         BIGSERIAL PRIMARY KEY,
  job_id      TEXT NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE,
  session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  scope       TEXT NOT NULL,
  report      JSONB NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX reports_session ON reports (session_id);

CREATE TABLE audio_chunks (
  session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  pcm         BYTEA NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX audio_created ON audio_chunks (created_at);

CREATE TABLE lessons (
  id           TEXT PRIMARY KEY,
  title        TEXT NOT NULL,
  level        TEXT,
  tags         JSONB NOT NULL,
  body         TEXT NOT NULL,
  url          TEXT,
  content_hash TEXT NOT NULL,
  updated_at   TIMESTAMPTZ NOT NULL
);
`,
  },
  {
    // store.keepAudio never had a writer (issue 14): the setting and this table are gone.
    version: 2,
    name: "drop-audio-chunks",
    sql: `DROP TABLE IF EXISTS audio_chunks;`,
  },
];
