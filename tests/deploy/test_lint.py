"""Cross-object lint (lint.py): references between objects, dmond's settings against the
Services and ports, and the Dockerfile's USER/EXPOSE against the pod."""

import pytest

from conftest import DOCKERFILE, K8S, mutate
import lint
import manifests as mf


def run(k8s_dir, dockerfile=DOCKERFILE):
    return lint.lint(mf.load(k8s_dir), dockerfile.read_text(), k8s_dir)


def test_manifests_pass_the_cross_object_lint():
    assert run(K8S) == []


STS, SVC, HEADLESS, CM, PDB = ("30-statefulset.yaml", "21-service-ingest.yaml",
                               "20-service-headless.yaml", "10-configmap.yaml", "40-pdb.yaml")

MUTANTS = {
    "udp-port-aimed-at-tcp-name": (SVC, "targetPort: ingest-udp", "targetPort: ingest-tcp",
                                   "port 'ingest-tcp' is TCP in the container but UDP here"),
    "unknown-probe-port": (STS, "path: /readyz\n              port: http", "path: /readyz\n              port: metrics",
                           "readinessProbe: port 'metrics' names no container port"),
    "missing-configmap": (STS, "name: dmon-config", "name: dmon-conf",
                          "uses ConfigMap 'dmon-conf', which is not in this set"),
    "peers-dns-not-headless": (STS, "--peers-dns=dmon.$(POD_NAMESPACE)", "--peers-dns=dmon-ingest.$(POD_NAMESPACE)",
                               "--peers-dns=dmon-ingest.$(POD_NAMESPACE).svc.cluster.local is not the headless Service"),
    "peers-dns-wrong-namespace": (STS, "--peers-dns=dmon.$(POD_NAMESPACE)", "--peers-dns=dmon.default",
                                  "--peers-dns=dmon.default.svc.cluster.local is not"),
    "pdb-selects-nothing": (PDB, "matchLabels:\n      app.kubernetes.io/name: dmon", "matchLabels:\n      app.kubernetes.io/name: dmn",
                            "PodDisruptionBudget/dmon: selector matches no pods"),
    "peer-port-mismatch": (STS, "--peer-port=5557", "--peer-port=5558", "--peer-port=5558 but container port 'peer'"),
    "http-port-mismatch": (STS, "--http-port=5556", "--http-port=8080", "--http-port=8080 but container port 'http'"),
    "upper-case-name": (SVC, "name: dmon-ingest", "name: dmon-Ingest", "Service/dmon-Ingest: name is not a DNS-1123 label"),
    "grace-shorter-than-drain": (STS, "terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 20",
                                 "terminationGracePeriodSeconds 20 <= preStop 5 s + drain-timeout 20.0 s"),
    "undefined-env-in-args": (STS, "- name: POD_NAMESPACE", "- name: NAMESPACE",
                              "uses $(POD_NAMESPACE), which is not in the container's env"),
    "service-not-headless": (HEADLESS, "clusterIP: None", "clusterIP: 10.96.0.50",
                             "serviceName Service/dmon is not headless"),
    "not-ready-pods-unpublished": (HEADLESS, "publishNotReadyAddresses: true", "publishNotReadyAddresses: false",
                                   "publishNotReadyAddresses must be true"),
    "data-dir-not-on-a-volume": (CM, 'data-dir = "/var/lib/dmon"', 'data-dir = "/data"',
                                 "data-dir /data in dmon.conf is not a volumeClaimTemplate mount"),
    "stream-module-missing": (CM, 'streams = "stream"', 'streams = "streamz"',
                              "streams = streamz but there is no key streamz.py"),
    "bind-loopback": (CM, 'bind = "0.0.0.0"', 'bind = "127.0.0.1"', "pods must listen on 0.0.0.0"),
    "config-file-not-mounted": (STS, "--config=/etc/dmon/dmon.conf", "--config=/etc/dmon/dmond.conf",
                                "--config=/etc/dmon/dmond.conf is not a key of a ConfigMap"),
    "port-name-too-long": (STS, "- name: json-udp\n", "- name: json-datagrams-udp\n",
                           "port name 'json-datagrams-udp' is not an IANA service name"),
    "setting-given-twice": (STS, "- --http-port=5556", "- --http-port=5556\n            - --log-level=debug",
                            "log-level is set both as --log-level=debug and in dmon.conf"),
    "replicas-env-disagrees": (STS, "          ports:\n            - name: ingest-tcp",
                               "            - name: DMON_REPLICAS\n              value: \"2\"\n"
                               "          ports:\n            - name: ingest-tcp",
                               "env DMON_REPLICAS=2 but replicas: 3"),
    "wrong-namespace": (PDB, "namespace: dmon", "namespace: monitoring",
                        "PodDisruptionBudget/dmon: namespace 'monitoring' is not the Namespace"),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_lint_catches_a_broken_manifest(k8s_copy, name):
    file, old, new, expect = MUTANTS[name]
    mutate(k8s_copy / file, old, new)
    problems = run(k8s_copy)
    assert any(expect in p for p in problems), problems


def test_lint_catches_a_file_missing_from_the_kustomization(k8s_copy):
    (k8s_copy / "50-extra.yaml").write_text((k8s_copy / "40-pdb.yaml").read_text())
    assert "kustomization.yaml: 50-extra.yaml is not listed in resources (kubectl apply -k skips it)" in run(k8s_copy)


@pytest.mark.parametrize("old, new, expect", [
    ("USER 10001:10001", "USER 10002:10002", "runAsUser 10001 differs from the Dockerfile's USER 10002:10002"),
    ("5557/tcp", "", "port peer 5557/TCP is not EXPOSEd in the Dockerfile"),
], ids=["user", "expose"])
def test_lint_catches_a_pod_that_disagrees_with_the_image(dockerfile_copy, old, new, expect):
    mutate(dockerfile_copy, old, new)
    assert any(expect in p for p in run(K8S, dockerfile_copy))


def test_lint_command_line_exits_1_on_problems(k8s_copy):
    import subprocess, sys
    mutate(k8s_copy / STS, "--peer-port=5557", "--peer-port=5558")
    r = subprocess.run([sys.executable, lint.__file__, str(k8s_copy)], capture_output=True, text=True)
    assert r.returncode == 1 and "lint: " in r.stdout, r.stdout + r.stderr
