// Schema check: every manifest against the Kubernetes OpenAPI schema (ajv validators compiled
// into the pinned kubernetes-models package). Catches bad enums, wrong types, missing required
// fields and malformed quantities; not misspelled fields (fields.mjs does those).
import { loadManifests, label, require } from "./npm.mjs";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node schema.mjs <dir with kustomization.yaml>");
  process.exit(2);
}
let passed = 0, failed = 0;
for (const m of loadManifests(dir).manifests) {
  const { apiVersion, kind } = m.doc;
  let mod;
  try {
    // Core objects live under "v1", the rest under "<group>/<version>".
    mod = require(`kubernetes-models/${apiVersion}`);
  } catch {
    console.log(`FAIL ${label(m)}: unknown apiVersion ${apiVersion}`);
    failed++;
    continue;
  }
  if (typeof mod[kind] !== "function") {
    console.log(`FAIL ${label(m)}: no kind ${kind} in ${apiVersion}`);
    failed++;
    continue;
  }
  try {
    new mod[kind](m.doc).validate();
    passed++;
  } catch (e) {
    console.log(`FAIL ${label(m)}: ${e.message}`);
    for (const d of e.errors ?? []) console.log(`  ${d.instancePath} ${d.message} ${JSON.stringify(d.params)}`);
    failed++;
  }
}
console.log(`schema: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
