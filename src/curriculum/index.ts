// The curriculum: import lesson files into the store, index them (BM25, optional embeddings) and
// serve them to the analysis chain as a LangChain retriever.
export { importCurriculum, listLessonFiles, lessonHash, type ImportResult } from "./import.js";
export { parseLessonFile, parseMarkdownLesson, parseStructuredLessons } from "./parse.js";
export { LessonInput, CurriculumError, KNOWN_TAGS, SKILL_TAGS } from "./schema.js";
export { Bm25Index } from "./bm25.js";
export { chunkLesson, type Chunk } from "./chunk.js";
export { tokenize, buildErrorQuery, tagTerms, type ErrorQueryInput } from "./text.js";
export { createEmbedder, OpenAIEmbedder, LlamaEmbedder, EmbeddingError, embeddingsEndpoint, type Embedder } from "./embeddings.js";
export { CurriculumIndex, MAX_RESULTS, RRF_K, type SearchOptions, type SearchResult } from "./search.js";
export {
  createCurriculumRetriever,
  CurriculumRetriever,
  toDocument,
  type CurriculumRetrieverOptions,
  type LessonMetadata,
  type ErrorTypeLessons,
} from "./retriever.js";
export { groundReportResources, type GroundingResult } from "./ground.js";
export { importConfiguredCurriculum, DEFAULT_CURRICULUM_DIR } from "./startup.js";
