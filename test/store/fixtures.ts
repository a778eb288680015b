// Minimal valid records for the repository tests.
import type { Report } from "../../src/protocol/report.js";
import { StreamConfig } from "../../src/protocol/messages.js";

export const streamConfig = StreamConfig.parse({});

export function makeReport(sessionId: string, note = "ok"): Report {
  return {
    session_id: sessionId,
    created_at: new Date().toISOString(),
    status: "complete",
    llm_status: "ok",
    language: "en",
    transcript: { text: "I go there yesterday", words: [{ word: "I", start: 0, end: 0.2, confidence: 0.9, uncertain: false }] },
    quality: "ok",
    quality_detail: { word_count: 4, uncertain_words: 0, mean_confidence: 0.9, reasons: [], advice: [] },
    errors: [
      { start: 2, end: 4, original: "go", correction: "went", type: "tense", explanation: "past time marker", severity: "moderate" },
    ],
    strengths: [note],
    fluency: {
      word_count: 4,
      speaking_time_s: 1.5,
      words_per_minute: 160,
      articulation_rate_wpm: 170,
      pauses: { count: 0, mean_s: 0, longest_s: 0, over_1s: 0 },
      fillers: { count: 0, per_minute: 0, items: {} },
      repetitions: 0,
      self_corrections: 0,
      lexical_diversity: { mtld: null, ttr: 1 },
    },
    vocabulary: { levels: { A1: 1 }, counts: { A1: 3 }, above_b1: [], source: "test" },
    level: { cefr: "A2", evidence: [] },
    recommendations: [
      { title: "Past simple", reason: "tense errors", focus: "tense", resources: [{ lesson_id: "tense-past-simple", title: "Past simple", url: null }] },
    ],
    message: null,
    versions: { model: "test", prompt: "p1", schema: "1.0" },
  };
}
