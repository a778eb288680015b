// Prints the identity fields of GGUF files (general.name, architecture, size label, file type,
// chat template digest, tokenizer): how scripts/fetch-real-models.sh checks the files it
// assembles, and how docs/bench-analysis.md identifies them.
// Usage: node bin/run-ts.js bench/eval/gguf-identity.ts [--brief] <file.gguf>...
//   --brief: one line per file, "architecture|general.name|size_label|file_type|chat_template_sha256"
import { createHash } from "node:crypto";
import { readGgufFileInfo } from "node-llama-cpp";

const args = process.argv.slice(2);
const brief = args.includes("--brief");
for (const path of args.filter((a) => a !== "--brief")) {
  const info = await readGgufFileInfo(path, { readTensorInfo: false });
  const md = info.metadata as Record<string, any>;
  const tpl: string | undefined = md.tokenizer?.chat_template;
  const tplSha = tpl ? createHash("sha256").update(tpl).digest("hex") : "none";
  const arch = String(md.general?.architecture);
  if (brief) {
    console.log([arch, md.general?.name, md.general?.size_label, md.general?.file_type, tplSha].join("|"));
    continue;
  }
  const general = Object.fromEntries(Object.entries(md.general ?? {}).filter(([, v]) => typeof v !== "object"));
  const archMd = Object.fromEntries(Object.entries(md[arch] ?? {}).filter(([, v]) => typeof v !== "object"));
  console.log(
    JSON.stringify(
      {
        path,
        version: info.version,
        general,
        [arch]: archMd,
        tokenizer: { model: md.tokenizer?.ggml?.model, pre: md.tokenizer?.ggml?.pre, tokens: md.tokenizer?.ggml?.tokens?.length },
        chat_template_sha256: tplSha,
        chat_template_head: tpl ? tpl.slice(0, 160) : null,
      },
      null,
      1,
    ),
  );
}
