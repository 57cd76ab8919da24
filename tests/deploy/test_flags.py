"""Every dmond setting the manifests use (container args, DMON_* variables, dmon.conf keys in the
ConfigMap) is one `dmond --help` lists. The manifests are written for the target design, so
flags of features still being built are skipped, naming their issue; any other unknown flag (a
typo) fails. When a feature lands its flags must leave NOT_YET (a test says so)."""

import os
import re
import subprocess

import pytest

from conftest import K8S, mutate
import manifests as mf

# Flags the manifests use that dmond does not have yet: flag -> the issue that adds it.
NOT_YET: dict[str, str] = {}


def used_flags(data) -> dict:
    """Returns {flag: where it is used} for every dmond setting in the manifest set."""
    out = {}
    for sts in mf.docs(data, "StatefulSet"):
        c = mf.dmon_container(sts)
        for flag in mf.parse_args(c.get("args", [])):
            out[flag] = f"StatefulSet/{sts['metadata']['name']} args"
        for e in c.get("env", []):
            flag = mf.env_flag(e["name"])
            if flag:
                out[flag] = f"StatefulSet/{sts['metadata']['name']} env {e['name']}"
        conf = mf.config_file(data, c, sts["spec"]["template"]["spec"])
        if conf:
            for key in mf.parse_conf(conf[2]):
                out[key] = f"ConfigMap/{conf[0]['metadata']['name']} {conf[1]}"
    return out


def help_flags() -> set:
    dmond = os.environ.get("DMOND")
    assert dmond and os.access(dmond, os.X_OK), f"DMOND ({dmond}) is not the built dmond; run from CTest"
    out = subprocess.run([dmond, "--help"], capture_output=True, text=True, timeout=30, check=True).stdout
    return set(re.findall(r"--([a-z0-9][a-z0-9-]*)", out))


def unknown_flags(used: dict, known: set) -> list:
    """Returns '--flag (where)' for each used flag that is neither known nor in NOT_YET."""
    return [f"--{f} ({w})" for f, w in sorted(used.items()) if f not in known and f not in NOT_YET]


USED = used_flags(mf.load(K8S))


@pytest.fixture(scope="module")
def known():
    return help_flags()


@pytest.mark.parametrize("flag", sorted(USED))
def test_dmond_has_the_flag(flag, known):
    if flag not in known and flag in NOT_YET:
        pytest.skip(f"--{flag} ({USED[flag]}): not in dmond --help yet; lands with {NOT_YET[flag]}")
    assert flag in known, f"--{flag} ({USED[flag]}) is not a dmond setting; see dmond --help / deploy/dmon.conf"


def test_not_yet_lists_only_flags_that_are_used_and_still_missing(known):
    landed = sorted(f for f in NOT_YET if f in known)
    assert not landed, f"dmond has {landed} now: remove them from NOT_YET in {__file__}"
    unused = sorted(set(NOT_YET) - set(USED))
    assert not unused, f"the manifests no longer use {unused}: remove them from NOT_YET"


@pytest.mark.parametrize("file, old, new, expect", [
    ("30-statefulset.yaml", "--peer-port=5557", "--peer-prot=5557", "--peer-prot (StatefulSet/dmon args)"),
    ("10-configmap.yaml", "drain-timeout = 20.0", "drain-timout = 20.0", "--drain-timout (ConfigMap/dmon-config dmon.conf)"),
    ("30-statefulset.yaml", "- name: POD_IP\n", "- name: DMON_LOG_LEVL\n              value: debug\n            - name: POD_IP\n",
     "--log-levl (StatefulSet/dmon env DMON_LOG_LEVL)"),
], ids=["arg", "config-key", "env"])
def test_flag_check_catches_a_misspelled_setting(k8s_copy, known, file, old, new, expect):
    mutate(k8s_copy / file, old, new)
    assert expect in unknown_flags(used_flags(mf.load(k8s_copy)), known)
