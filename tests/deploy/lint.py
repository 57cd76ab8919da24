"""Cross-object lint of deploy/k8s: what no single object's schema can see. Selectors match
labels, named ports and probe ports exist with the right protocol, mounts and ConfigMaps exist,
DNS-1123 names, dmond's flags agree with the Services and ports, and the grace period fits the
drain. usage: /usr/bin/python3 lint.py <k8s dir> [--dockerfile deploy/Dockerfile]; exit 1 with
one line per problem."""

import argparse
import pathlib
import re
import sys

import manifests as mf

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# IANA_SVC_NAME: what a named container port may be called.
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*$")
NAMESPACED = {"ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"}
CLUSTER_DOMAIN = "svc.cluster.local"


def lint(data: dict, dockerfile: str = None, k8s_dir: pathlib.Path = None) -> list:
    """Returns a list of problems, each naming the object and what to fix; empty when clean."""
    p = []
    objs = [m["doc"] for m in data["manifests"]]
    by_kind = lambda k: mf.docs(data, k)  # noqa: E731

    if k8s_dir is not None:
        listed = set(data["kustomization"].get("resources", []))
        on_disk = {f.name for f in k8s_dir.glob("*.yaml")} - {"kustomization.yaml"}
        for f in sorted(on_disk - listed):
            p.append(f"kustomization.yaml: {f} is not listed in resources (kubectl apply -k skips it)")

    namespaces = {n["metadata"]["name"] for n in by_kind("Namespace")}
    for o in objs:
        kind, meta = o.get("kind"), o.get("metadata", {})
        name = meta.get("name", "")
        pattern = DNS1123_LABEL if kind in ("Service", "Namespace") else DNS1123_SUBDOMAIN
        if not pattern.match(name) or len(name) > (63 if pattern is DNS1123_LABEL else 253):
            p.append(f"{kind}/{name}: name is not a DNS-1123 {'label' if pattern is DNS1123_LABEL else 'subdomain'}")
        if kind in NAMESPACED and namespaces and meta.get("namespace") not in namespaces:
            p.append(f"{kind}/{name}: namespace {meta.get('namespace')!r} is not the Namespace in this set {sorted(namespaces)}")

    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    configmaps = {c["metadata"]["name"]: c for c in by_kind("ConfigMap")}
    for sts in by_kind("StatefulSet"):
        p += lint_statefulset(data, sts, services, configmaps, dockerfile)
    return p


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def lint_statefulset(data, sts, services, configmaps, dockerfile) -> list:
    p = []
    name, ns = sts["metadata"]["name"], sts["metadata"].get("namespace")
    spec = sts["spec"]
    tmpl = spec["template"]
    pod = tmpl["spec"]
    labels = tmpl.get("metadata", {}).get("labels", {})
    where = f"StatefulSet/{name}"

    # The pod label controller-revision-hash=<name>-<10 chars> must fit 63 characters.
    if len(name) > 52:
        p.append(f"{where}: name longer than 52 characters; its pods would never be created")
    if not labels_match(spec.get("selector", {}).get("matchLabels", {}), labels):
        p.append(f"{where}: selector.matchLabels {spec.get('selector')} does not match the template labels {labels}")

    headless = services.get(spec.get("serviceName"))
    if headless is None:
        p.append(f"{where}: serviceName {spec.get('serviceName')!r} names no Service in this set")
    else:
        if headless["spec"].get("clusterIP") != "None":
            p.append(f"{where}: serviceName Service/{headless['metadata']['name']} is not headless (clusterIP: None)")
        if not headless["spec"].get("publishNotReadyAddresses"):
            p.append(f"Service/{headless['metadata']['name']}: publishNotReadyAddresses must be true, "
                     "or starting pods cannot find their peers")

    # Container ports: names, ranges, uniqueness.
    ports = {}  # name -> (number, protocol)
    numbers = set()
    for c in pod.get("containers", []):
        for cp in c.get("ports", []):
            num, proto, pname = cp.get("containerPort"), cp.get("protocol", "TCP"), cp.get("name")
            if not isinstance(num, int) or not 1 <= num <= 65535:
                p.append(f"{where}: container {c['name']} port {num} is outside 1-65535")
            if (num, proto) in numbers:
                p.append(f"{where}: container port {num}/{proto} is declared twice")
            numbers.add((num, proto))
            if pname is not None:
                if len(pname) > 15 or not PORT_NAME.match(pname):
                    p.append(f"{where}: port name {pname!r} is not an IANA service name (a-z0-9-, a letter, <= 15)")
                if pname in ports:
                    p.append(f"{where}: port name {pname!r} is used twice")
                ports[pname] = (num, proto)

    def port_ref(ref, proto, what):
        if isinstance(ref, str):
            if ref not in ports:
                p.append(f"{what}: port {ref!r} names no container port (have {sorted(ports)})")
            elif ports[ref][1] != proto:
                p.append(f"{what}: port {ref!r} is {ports[ref][1]} in the container but {proto} here")
            return ports.get(ref, (None,))[0]
        if (ref, proto) not in numbers:
            p.append(f"{what}: port {ref}/{proto} is not a container port")
        return ref

    for s in services.values():
        sname = s["metadata"]["name"]
        if not labels_match(s["spec"].get("selector", {}), labels):
            continue
        sports = s["spec"].get("ports", [])
        for sp in sports:
            if len(sports) > 1 and not sp.get("name"):
                p.append(f"Service/{sname}: port {sp.get('port')} needs a name (the Service has several)")
            port_ref(sp.get("targetPort", sp.get("port")), sp.get("protocol", "TCP"),
                     f"Service/{sname} port {sp.get('name', sp.get('port'))}")
    for s in services.values():
        if not labels_match(s["spec"].get("selector", {}), labels):
            p.append(f"Service/{s['metadata']['name']}: selector {s['spec'].get('selector')} matches no pods of {where}")
    for pdb in mf.docs(data, "PodDisruptionBudget"):
        if not labels_match(pdb["spec"].get("selector", {}).get("matchLabels", {}), labels):
            p.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: selector matches no pods of {where}")

    # Volumes, mounts, ConfigMaps.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {v["metadata"]["name"] for v in spec.get("volumeClaimTemplates", [])}
    for v in volumes.values():
        if "configMap" in v:
            cm = configmaps.get(v["configMap"].get("name"))
            if cm is None:
                p.append(f"{where}: volume {v['name']} uses ConfigMap {v['configMap'].get('name')!r}, which is not in this set")
            else:
                for item in v["configMap"].get("items", []):
                    if item["key"] not in cm.get("data", {}):
                        p.append(f"{where}: volume {v['name']} wants key {item['key']!r}, not in ConfigMap/{cm['metadata']['name']}")
    mounts = {}
    for c in pod.get("containers", []):
        for vm in c.get("volumeMounts", []):
            if vm["name"] not in volumes and vm["name"] not in claims:
                p.append(f"{where}: container {c['name']} mounts {vm['name']!r}, which is no volume or volumeClaimTemplate")
            mounts[vm["mountPath"].rstrip("/")] = vm["name"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            pr = c.get(probe)
            if pr:
                action = pr.get("httpGet") or pr.get("tcpSocket") or pr.get("grpc")
                if action and "port" in action:
                    port_ref(action["port"], "TCP", f"{where} {probe}")

    # securityContext and the image's USER.
    sc = pod.get("securityContext", {})
    if not sc.get("runAsNonRoot") or not isinstance(sc.get("runAsUser"), int) or sc["runAsUser"] == 0:
        p.append(f"{where}: securityContext needs runAsNonRoot: true and a non-zero runAsUser")
    if claims and "fsGroup" not in sc:
        p.append(f"{where}: securityContext.fsGroup is missing; the data volume would not be writable")

    c = mf.dmon_container(sts)
    args = mf.parse_args(c.get("args", []))
    env = [e["name"] for e in c.get("env", [])]
    env_src = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
    for i, e in enumerate(c.get("env", [])):
        if e["name"] == "DMON_REPLICAS" and str(e.get("value")) != str(spec.get("replicas")):
            p.append(f"{where}: env DMON_REPLICAS={e.get('value')} but replicas: {spec.get('replicas')}")
    for a in c.get("args", []):
        for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
            if var not in env:
                p.append(f"{where}: argument {a!r} uses $({var}), which is not in the container's env")

    # Cluster flags against the headless Service and the ports.
    dns = args.get("peers-dns")
    if dns is not None and headless is not None:
        hname = headless["metadata"]["name"]
        ok = {f"{hname}.{ns}.{CLUSTER_DOMAIN}"}
        if env_src.get("POD_NAMESPACE") == "metadata.namespace":
            ok.add(f"{hname}.$(POD_NAMESPACE).{CLUSTER_DOMAIN}")
        if dns not in ok:
            p.append(f"{where}: --peers-dns={dns} is not the headless Service's name; want one of {sorted(ok)}")
    peer_port = args.get("peer-port")
    if peer_port is not None:
        if ports.get("peer") != (int(peer_port), "TCP"):
            p.append(f"{where}: --peer-port={peer_port} but container port 'peer' is {ports.get('peer')}")
        if headless is not None and not any(sp.get("port") == int(peer_port) for sp in headless["spec"].get("ports", [])):
            p.append(f"Service/{headless['metadata']['name']}: no port {peer_port} for --peer-port")
    http_port = args.get("http-port")
    if http_port is not None and ports.get("http") != (int(http_port), "TCP"):
        p.append(f"{where}: --http-port={http_port} but container port 'http' is {ports.get('http')}")
    ann = tmpl.get("metadata", {}).get("annotations", {})
    if "prometheus.io/port" in ann and not any(n == int(ann["prometheus.io/port"]) and pr == "TCP" for n, pr in ports.values()):
        p.append(f"{where}: prometheus.io/port {ann['prometheus.io/port']} is not a TCP container port")

    # dmon.conf from the ConfigMap: where data, streams and the drain go.
    conf = mf.config_file(data, c, pod)
    if args.get("config") and conf is None:
        p.append(f"{where}: --config={args['config']} is not a key of a ConfigMap mounted at its folder")
    settings = mf.parse_conf(conf[2]) if conf else {}
    for k, v in args.items():
        if k in settings:
            p.append(f"{where}: {k} is set both as --{k}={v} and in {conf[1]}; keep one")
    if conf:
        cm, _, _ = conf
        data_dir = settings.get("data-dir", "./data").rstrip("/")
        if not claims or mounts.get(data_dir) not in claims:
            p.append(f"{where}: data-dir {data_dir} in {conf[1]} is not a volumeClaimTemplate mount")
        if settings.get("bind", "127.0.0.1") not in ("0.0.0.0", "::"):
            p.append(f"{where}: bind = {settings.get('bind', '127.0.0.1')} in {conf[1]}; pods must listen on 0.0.0.0")
        module = settings.get("streams")
        cm_dir = next((d for d, v in mounts.items() if volumes.get(v, {}).get("configMap", {}).get("name") == cm["metadata"]["name"]), None)
        if module and cm_dir in settings.get("python-path", "").split(":") and f"{module}.py" not in cm.get("data", {}):
            p.append(f"ConfigMap/{cm['metadata']['name']}: streams = {module} but there is no key {module}.py")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        pre = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        drain = float(settings.get("drain-timeout", 20.0))
        if pre + drain >= grace:
            p.append(f"{where}: terminationGracePeriodSeconds {grace} <= preStop {pre} s + drain-timeout {drain} s; "
                     "SIGKILL would cut the drain short")

    if dockerfile is not None:
        rt = mf.dockerfile_runtime(dockerfile)
        uid = (rt["user"] or "").split(":")[0]
        if uid != str(sc.get("runAsUser")):
            p.append(f"{where}: runAsUser {sc.get('runAsUser')} differs from the Dockerfile's USER {rt['user']}")
        for pname, (num, proto) in ports.items():
            if (num, proto) not in rt["expose"]:
                p.append(f"{where}: port {pname} {num}/{proto} is not EXPOSEd in the Dockerfile")
    return p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("k8s_dir", type=pathlib.Path)
    ap.add_argument("--dockerfile", type=pathlib.Path)
    a = ap.parse_args()
    problems = lint(mf.load(a.k8s_dir), a.dockerfile.read_text() if a.dockerfile else None, a.k8s_dir)
    for line in problems:
        print(line)
    print(f"lint: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
