"""Reads deploy/k8s for the Python checks: the manifest set as JSON (parsed by the `yaml` npm
package through manifests-json.mjs, so no PyYAML is needed), dmond's settings in it, and the
Dockerfile's USER and EXPOSE lines."""

import json
import os
import pathlib
import re
import shlex
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE.parent.parent


def npm_dir() -> pathlib.Path:
    """Returns the build-tree folder npm-ci.sh installed into (DMON_DEPLOY_NPM_DIR)."""
    d = os.environ.get("DMON_DEPLOY_NPM_DIR")
    if not d or not (pathlib.Path(d) / "node_modules").is_dir():
        raise RuntimeError(f"DMON_DEPLOY_NPM_DIR ({d or 'unset'}) has no node_modules; "
                           "run the deploy_npm_ci test first (ctest -R deploy)")
    return pathlib.Path(d).resolve()


def node(script: str, *args, check=False) -> subprocess.CompletedProcess:
    """Runs tests/deploy/<script> with node; returns the completed process (text output)."""
    env = dict(os.environ, DMON_DEPLOY_NPM_DIR=str(npm_dir()))
    return subprocess.run(["node", str(HERE / script), *map(str, args)], env=env, text=True,
                          capture_output=True, check=check, timeout=120)


def load(k8s_dir) -> dict:
    """Returns {kustomization, manifests: [{file, index, doc}]} for a kustomization folder."""
    p = node("manifests-json.mjs", k8s_dir)
    if p.returncode != 0:
        raise ValueError(p.stderr.strip() or p.stdout.strip())
    return json.loads(p.stdout)


def docs(data: dict, kind: str) -> list:
    """Returns the manifests of one kind."""
    return [m["doc"] for m in data["manifests"] if m["doc"].get("kind") == kind]


def dmon_container(sts: dict) -> dict:
    """Returns the StatefulSet's container named dmon."""
    for c in sts["spec"]["template"]["spec"]["containers"]:
        if c.get("name") == "dmon":
            return c
    raise ValueError(f"StatefulSet/{sts['metadata']['name']} has no container named dmon")


def parse_args(args: list) -> dict:
    """Returns {flag: value} from ["--a=1", "--b", "2", "--c"] (flag without the dashes)."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if not eq and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            out[name] = value if (eq or value) else None
        i += 1
    return out


def parse_conf(text: str) -> dict:
    """Returns {key: value} of a dmon.conf (CLI11's `key = value` lines, values unquoted)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, eq, value = line.partition("=")
        if eq:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key.strip()] = value
    return out


def env_flag(name: str):
    """Returns the flag a DMON_* variable sets (DMON_TCP_PORT -> tcp-port), or None."""
    if not name.startswith("DMON_"):
        return None
    if name == "DMON_STREAM_MODULE":
        return "streams"
    return name[len("DMON_"):].lower().replace("_", "-")


def config_file(data: dict, container: dict, pod_spec: dict):
    """Returns (configmap, key, text) of the file --config names, or None when not mounted."""
    path = parse_args(container.get("args", [])).get("config")
    if not path:
        return None
    mount_dir, _, key = path.rpartition("/")
    for vm in container.get("volumeMounts", []):
        if vm["mountPath"].rstrip("/") != mount_dir:
            continue
        vol = next((v for v in pod_spec.get("volumes", []) if v["name"] == vm["name"]), None)
        if vol and "configMap" in vol:
            for cm in docs(data, "ConfigMap"):
                if cm["metadata"]["name"] == vol["configMap"]["name"] and key in cm.get("data", {}):
                    return cm, key, cm["data"][key]
    return None


def dockerfile_runtime(text: str) -> dict:
    """Returns the last stage's USER, EXPOSE list and exec-form ENTRYPOINT of a Dockerfile."""
    stage = re.split(r"(?im)^FROM\s", text)[-1]
    user = re.findall(r"(?im)^USER\s+(\S+)", stage)
    expose = []
    for line in re.findall(r"(?im)^EXPOSE\s+(.+)$", stage):
        for item in shlex.split(line):
            port, _, proto = item.partition("/")
            expose.append((int(port), (proto or "tcp").upper()))
    return {"user": user[-1] if user else None, "expose": expose}
