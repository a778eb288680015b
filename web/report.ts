// Renders a Report into DOM nodes. Only textContent is used: transcript and explanations come
// from a speech recogniser and an LLM and must never be interpreted as HTML.
import type { Report, LanguageError } from "../src/protocol/report.js";

type Child = Node | string | null | undefined | false;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const num = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "–");

/** Non-overlapping errors in text order whose offsets really point at their `original`. */
export function placeErrors(text: string, errors: LanguageError[]): LanguageError[] {
  const sorted = errors.filter((e) => e.start < e.end && e.end <= text.length).sort((a, b) => a.start - b.start);
  const out: LanguageError[] = [];
  let at = 0;
  for (const e of sorted) {
    if (e.start < at) continue;
    out.push(e);
    at = e.end;
  }
  return out;
}

function transcriptWithErrors(report: Report): HTMLElement {
  const text = report.transcript.text;
  const p = el("p", { class: "report-text", id: "report-transcript" });
  let at = 0;
  placeErrors(text, report.errors).forEach((e, i) => {
    p.append(text.slice(at, e.start));
    const tipId = `err-tip-${i}`;
    const mark = el(
      "mark",
      { class: "err", tabindex: "0", role: "button", "aria-expanded": "false", "aria-describedby": tipId, "data-type": e.type },
      text.slice(e.start, e.end),
      el("span", { class: "tip", role: "tooltip", id: tipId }, el("strong", {}, `→ ${e.correction}`), `${e.type.replace(/_/g, " ")} · ${e.severity}. ${e.explanation}`),
    );
    // Tap and keyboard: toggle the explanation (hover and focus show it through CSS).
    const toggle = () => mark.setAttribute("aria-expanded", mark.getAttribute("aria-expanded") === "true" ? "false" : "true");
    mark.addEventListener("click", toggle);
    mark.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        toggle();
      } else if (ev.key === "Escape") mark.setAttribute("aria-expanded", "false");
    });
    p.append(mark);
    at = e.end;
  });
  p.append(text.slice(at));
  if (!text) p.append(el("em", {}, "(no words were recognised)"));
  return p;
}

function stat(label: string, value: string): HTMLElement {
  return el("div", { class: "stat" }, el("dt", {}, label), el("dd", {}, value));
}

export function renderReport(report: Report): HTMLElement {
  const f = report.fluency;
  const root = el("div", { "data-session": report.session_id });
  if (report.quality !== "ok" || report.message) {
    root.append(
      // The server's message already quotes the advice when it is about quality: say it once.
      el(
        "p",
        { class: "quality" },
        report.message ?? `Recording quality: ${report.quality.replace(/_/g, " ")}.`,
        ...report.quality_detail.advice.filter((a) => !report.message?.includes(a)).map((a) => ` ${a}`),
      ),
    );
  }
  root.append(el("h3", {}, "What you said"), transcriptWithErrors(report));
  const errors = placeErrors(report.transcript.text, report.errors);
  if (errors.length) {
    root.append(
      el("h3", {}, `Corrections (${errors.length})`),
      el("ul", { class: "errors-list" }, ...errors.map((e) => el("li", {}, el("s", {}, e.original), " → ", el("strong", {}, e.correction), ` — ${e.explanation}`))),
    );
  } else root.append(el("p", {}, "No grammar errors were found."));
  root.append(
    el("h3", {}, "Fluency"),
    el(
      "dl",
      { class: "grid", id: "fluency" },
      stat("Words", String(f.word_count)),
      stat("Words / min", num(f.words_per_minute)),
      stat("Articulation (wpm)", num(f.articulation_rate_wpm)),
      stat("Pauses", `${f.pauses.count} (${num(f.pauses.longest_s, 1)} s max)`),
      stat("Fillers", String(f.fillers.count)),
      stat("Repetitions", String(f.repetitions)),
    ),
    el("h3", {}, "Estimated level"),
    el("p", { id: "level-estimate" }, el("span", { class: "level" }, report.level.cefr ?? "?"), report.level.evidence.length ? ` ${report.level.evidence.join("; ")}` : report.level.cefr ? "" : " Not enough speech to estimate."),
  );
  if (report.strengths.length) root.append(el("h3", {}, "Strengths"), el("ul", {}, ...report.strengths.map((s) => el("li", {}, s))));
  if (report.recommendations.length) {
    root.append(
      el("h3", {}, "Next steps"),
      el(
        "ul",
        { class: "recs", id: "recommendations" },
        ...report.recommendations.map((r) =>
          el(
            "li",
            {},
            el("strong", {}, r.title),
            `: ${r.reason}`,
            r.resources.length
              ? el("ul", {}, ...r.resources.map((res) => el("li", {}, res.url && /^https?:\/\//.test(res.url) ? el("a", { href: res.url, target: "_blank", rel: "noopener" }, res.title) : res.title)))
              : null,
          ),
        ),
      ),
    );
  }
  root.append(el("p", { class: "hint" }, `Session ${report.session_id} · ${report.versions.model}`));
  return root;
}
