// Unknown-field check: the schemas allow extra properties, so a misspelled key
// (terminationGracePeriodSecs) passes schema.mjs and is silently dropped by the API server.
// TypeScript's excess-property check over kubernetes-models' interfaces catches it at any depth.
// usage: node fields.mjs <dir with kustomization.yaml> <empty work dir>
import { loadManifests, label, nodeModules } from "./npm.mjs";
import { mkdirSync, writeFileSync, symlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const [dir, work] = process.argv.slice(2);
if (!dir || !work) {
  console.error("usage: node fields.mjs <dir with kustomization.yaml> <work dir>");
  process.exit(2);
}
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
symlinkSync(nodeModules, join(work, "node_modules"));
const names = {};
const files = loadManifests(dir).manifests.map((m, i) => {
  const { apiVersion, kind } = m.doc;
  const name = `doc${i}.ts`;
  names[name] = label(m);
  // One property per line, so tsc's line numbers point near the offending key.
  writeFileSync(join(work, name),
    `import type { I${kind} as T } from "kubernetes-models/${apiVersion}/${kind}";\n` +
    `export const doc: T = ${JSON.stringify(m.doc, null, 2)};\n`);
  return name;
});
writeFileSync(join(work, "package.json"), JSON.stringify({ private: true, type: "module" }));
writeFileSync(join(work, "tsconfig.json"), JSON.stringify({
  compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
                     skipLibCheck: true, types: [] },
  files,
}));
const tsc = spawnSync(join(nodeModules, ".bin", "tsc"), ["-p", work, "--pretty", "false"],
                      { encoding: "utf8" });
if (tsc.error) {
  console.error(`error: could not run tsc: ${tsc.error.message}`);
  process.exit(2);
}
// "doc3.ts(12,5): error TS2353: ..." -> "30-statefulset.yaml StatefulSet/dmon: error TS2353: ..."
const out = (tsc.stdout + tsc.stderr).replace(/^\S*?(doc\d+\.ts)\(\d+,\d+\)/gm, (_, f) => names[f] ?? f);
process.stdout.write(out);
const errors = (out.match(/error TS\d+/g) ?? []).length;
console.log(`fields: ${files.length} documents, ${errors} errors`);
process.exit(tsc.status === 0 ? 0 : 1);
