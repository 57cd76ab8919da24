// Shared by the deploy validators: finds the npm packages CTest installed into the build tree
// (DMON_DEPLOY_NPM_DIR, see npm-ci.sh) and reads the manifest set a kustomization.yaml lists.
import { createRequire } from "node:module";
import { readFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";

const npmDir = process.env.DMON_DEPLOY_NPM_DIR && resolve(process.env.DMON_DEPLOY_NPM_DIR);
if (!npmDir || !existsSync(join(npmDir, "node_modules"))) {
  console.error(`error: DMON_DEPLOY_NPM_DIR (${npmDir ?? "unset"}) has no node_modules; ` +
                "run the deploy_npm_ci test first (ctest -R deploy) or tests/deploy/npm-ci.sh");
  process.exit(2);
}
// Resolve packages from the build tree, not from this script's folder in the source tree.
export const require = createRequire(join(npmDir, "package.json"));
export const nodeModules = join(npmDir, "node_modules");
const YAML = require("yaml");

/// Returns every document of the files listed under `resources:` in dir/kustomization.yaml,
/// each as {file, index, doc}; throws with the file name on a YAML error.
export function loadManifests(dir) {
  const kustomization = YAML.parse(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
  const out = [];
  for (const file of kustomization.resources ?? []) {
    const docs = YAML.parseAllDocuments(readFileSync(join(dir, file), "utf8"));
    docs.forEach((d, index) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      const doc = d.toJS();
      if (doc !== null) out.push({ file, index, doc });
    });
  }
  return { kustomization, manifests: out };
}

/// "30-statefulset.yaml StatefulSet/dmon", for messages.
export function label({ file, doc }) {
  return `${file} ${doc?.kind}/${doc?.metadata?.name}`;
}
