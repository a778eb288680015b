// Versioned schema for SQLite. Append new migrations; never edit an applied one (the version
// number is what `schema_migrations` records).
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE sessions (
  id          TEXT PRIMARY KEY,
  subject     TEXT NOT NULL,
  config      TEXT NOT NULL,              -- JSON StreamConfig
  claims      TEXT NOT NULL,              -- JSON verified claims (never the token)
  status      TEXT NOT NULL CHECK (status IN ('streaming','ended','interrupted','deleted')),
  created_at  TEXT NOT NULL,              -- ISO 8601 UTC, sorts lexically
  ended_at    TEXT,
  audio_ms    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_subject_created ON sessions (subject, created_at DESC);
CREATE INDEX sessions_status ON sessions (status);

CREATE TABLE segments (
  session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  segment_id  INTEGER NOT NULL,
  text        TEXT NOT NULL,
  start_s     REAL NOT NULL,
  end_s       REAL NOT NULL,
  words       TEXT NOT NULL,              -- JSON Word[] with timings and confidences
  created_at  TEXT NOT NULL,
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
  run_after    TEXT NOT NULL,
  locked_by    TEXT,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_after);
CREATE INDEX jobs_session ON jobs (session_id);

CREATE TABLE reports (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order breaks created_at ties
  job_id      TEXT NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE,
  session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  scope       TEXT NOT NULL,
  report      TEXT NOT NULL,              -- JSON Report
  created_at  TEXT NOT NULL
);
CREATE INDEX reports_session ON reports (session_id);

CREATE TABLE audio_chunks (
  session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  pcm         BLOB NOT NULL,              -- 16 kHz mono s16le
  created_at  TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX audio_created ON audio_chunks (created_at);

CREATE TABLE lessons (
  id           TEXT PRIMARY KEY,
  title        TEXT NOT NULL,
  level        TEXT,
  tags         TEXT NOT NULL,             -- JSON string[]
  body         TEXT NOT NULL,
  url          TEXT,
  content_hash TEXT NOT NULL,
  updated_at   TEXT NOT NULL
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
