// Prints the manifest set of a kustomization directory as JSON, so the Python checks
// (lint.py, the flag check) need no YAML library: {kustomization, manifests: [{file, index, doc}]}.
import { loadManifests } from "./npm.mjs";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node manifests-json.mjs <dir with kustomization.yaml>");
  process.exit(2);
}
try {
  process.stdout.write(JSON.stringify(loadManifests(dir)));
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(1);
}
