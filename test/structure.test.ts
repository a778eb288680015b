// Structure rules of issue 14 for the live path, checked with the TypeScript compiler's own
// parser: no function (declaration, method, accessor, constructor, arrow or function expression)
// spans more than 60 lines, and each file says its job in a leading comment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const MAX_FUNCTION_LINES = 60;
const FILES = [
  ...readdirSync("src/session")
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join("src/session", f)),
  "src/stt/stream.ts",
  "src/transport/server.ts",
];

interface Long {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(sf);
  return "(anonymous)";
}

export function longFunctions(file: string, source = readFileSync(file, "utf8")): Long[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Long[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX_FUNCTION_LINES) out.push({ file, name: nameOf(node, sf), line: start + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test("the checker sees a long arrow function and a long method, and passes short ones", () => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};`).join("\n");
  const src = `const f = () => {\n${body(60)}\n};\nclass C {\n  m() {\n${body(10)}\n  }\n}\nfunction g() {\n${body(58)}\n}\n`;
  const found = longFunctions("inline.ts", src).map((l) => `${l.name}:${l.lines}`);
  assert.deepEqual(found, ["f:62"]);
  const method = `class C {\n  m() {\n${body(59)}\n  }\n}\n`;
  assert.deepEqual(longFunctions("inline.ts", method).map((l) => l.name), ["m"]);
});

test(`no function over ${MAX_FUNCTION_LINES} lines in src/session/**, src/stt/stream.ts, src/transport/server.ts`, () => {
  const long = FILES.flatMap((f) => longFunctions(f));
  assert.deepEqual(
    long.map((l) => `${l.file}:${l.line} ${l.name} (${l.lines} lines)`),
    [],
  );
});

test("each of those files says its job in its first comment", () => {
  for (const f of FILES) {
    const head = readFileSync(f, "utf8").trimStart();
    assert.ok(head.startsWith("//") || head.startsWith("/*"), `${f} starts with a comment saying its job`);
  }
});
