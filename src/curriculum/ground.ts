// The last check before a report is stored: every resource must name a lesson the store holds,
// and its title/url/level are taken from the store, never from the model's output. A model
// cannot invent a link this way, whatever the prompt said.
import type { Recommendation, Report, Resource } from "../protocol/report.js";
import type { Repository } from "../store/types.js";

export interface GroundingResult {
  report: Report;
  /** lesson_ids the model cited that the store does not hold (dropped). */
  dropped: string[];
}

export async function groundReportResources(report: Report, repo: Pick<Repository, "getLesson">): Promise<GroundingResult> {
  const dropped: string[] = [];
  const cache = new Map<string, Awaited<ReturnType<Repository["getLesson"]>>>();
  const lookup = async (id: string) => {
    if (!cache.has(id)) cache.set(id, await repo.getLesson(id));
    return cache.get(id)!;
  };
  const recommendations: Recommendation[] = [];
  for (const rec of report.recommendations) {
    const resources: Resource[] = [];
    const seen = new Set<string>();
    for (const res of rec.resources) {
      const lesson = await lookup(res.lesson_id);
      if (!lesson) {
        dropped.push(res.lesson_id);
        continue;
      }
      if (seen.has(lesson.id)) continue;
      seen.add(lesson.id);
      resources.push({ lesson_id: lesson.id, title: lesson.title, url: lesson.url, level: lesson.level });
    }
    recommendations.push({ ...rec, resources });
  }
  return { report: { ...report, recommendations }, dropped };
}
