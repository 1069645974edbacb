// Parse Mermaid diagrams with Mermaid's own parser, as GitHub's renderer does before drawing.
//
// stdin: a JSON array of diagram texts. stdout: a JSON array, one result per diagram:
//   {ok: true, type, vertices: [{id, text, type, classes}], edges: [{start, end, text, stroke}],
//    subgraphs: [{id, title, nodes}]}
//   {ok: false, error}
// Vertex and edge texts are as Mermaid's flowchart database holds them after parsing and
// sanitising, with its entity placeholders turned back into HTML entities (&#34; ...), so the
// caller can check that every label reached the node it was written for, whole.
//
// Mermaid sanitises labels with DOMPurify, which needs a DOM: jsdom provides one (in a browser
// it is the page's). Parsing needs no layout or rendering.
import { JSDOM } from "jsdom";

const { window } = new JSDOM("");
globalThis.window = window;
globalThis.document = window.document;

// Mermaid logs through console; stdout is reserved for the JSON answer.
for (const name of ["log", "info", "warn", "debug", "trace"]) {
  console[name] = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");
}

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });

// The inverse of Mermaid's encodeEntities, as its decodeEntities does before rendering.
const decode = (text) =>
  String(text ?? "")
    .replace(/ﬂ°°/g, "&#")
    .replace(/ﬂ°/g, "&")
    .replace(/¶ß/g, ";");

async function check(text) {
  try {
    const parsed = await mermaid.parse(text); // throws on a syntax error
    const result = { ok: true, type: parsed.diagramType, vertices: [], edges: [], subgraphs: [] };
    if (parsed.diagramType.startsWith("flowchart")) {
      const { db } = await mermaid.mermaidAPI.getDiagramFromText(text);
      for (const v of db.getVertices().values()) {
        result.vertices.push({ id: v.id, text: decode(v.text), type: v.type, classes: v.classes });
      }
      for (const s of db.getSubGraphs()) {
        result.subgraphs.push({ id: s.id, title: decode(s.title), nodes: [...s.nodes] });
      }
      for (const e of db.getEdges()) {
        result.edges.push({ start: e.start, end: e.end, text: decode(e.text), stroke: e.stroke });
      }
    }
    return result;
  } catch (error) {
    return { ok: false, error: String(error?.message ?? error) };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const diagrams = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = [];
for (const text of diagrams) results.push(await check(text));
process.stdout.write(JSON.stringify(results));
