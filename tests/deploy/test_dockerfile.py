"""deploy/Dockerfile: both npm linters (dockerfile-utils, dockerfilelint) pass, the ENTRYPOINT is
exec form (dmond is PID 1 and gets SIGTERM) and USER is numeric (runAsNonRoot can check it);
.dockerignore keeps .git and build trees out of the context."""

import re
import subprocess

import pytest

from conftest import DOCKERFILE, SOURCE, mutate
from manifests import npm_dir


def linter(tool, dockerfile):
    cmd = [str(npm_dir() / "node_modules" / ".bin" / tool)]
    cmd += ["lint", str(dockerfile)] if tool == "dockerfile-utils" else [str(dockerfile)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def exec_form_entrypoint(text):
    return re.search(r'(?m)^ENTRYPOINT \[\s*"', text) is not None


def numeric_user(text):
    users = re.findall(r"(?m)^USER\s+(\S+)", text)
    return bool(users) and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]) is not None


@pytest.mark.parametrize("tool", ["dockerfile-utils", "dockerfilelint"])
def test_dockerfile_passes_the_linter(tool):
    r = linter(tool, DOCKERFILE)
    assert r.returncode == 0, r.stdout + r.stderr


def test_entrypoint_is_exec_form_and_user_is_numeric():
    text = DOCKERFILE.read_text()
    assert exec_form_entrypoint(text)
    assert numeric_user(text)


@pytest.mark.parametrize("tool, old, new", [
    ("dockerfile-utils", "STOPSIGNAL SIGTERM", "STOPSIGNL SIGTERM"),
    ("dockerfile-utils", "EXPOSE 5555/tcp", "EXPOSE 5555/tpc"),
    ("dockerfilelint", "apt-get install -y --no-install-recommends python3",
     "apt-get install --no-install-recommends python3"),
    ("dockerfilelint", "EXPOSE 5555/tcp", "EXPOSE 99999/tcp"),
], ids=["utils-unknown-instruction", "utils-bad-protocol", "lint-apt-without-y", "lint-bad-port"])
def test_linter_catches_a_broken_dockerfile(dockerfile_copy, tool, old, new):
    mutate(dockerfile_copy, old, new)
    r = linter(tool, dockerfile_copy)
    assert r.returncode != 0, r.stdout + r.stderr


def test_greps_catch_shell_form_entrypoint_and_named_user(dockerfile_copy):
    mutate(dockerfile_copy, 'ENTRYPOINT ["/opt/dmon/bin/dmond"]', "ENTRYPOINT /opt/dmon/bin/dmond")
    mutate(dockerfile_copy, "USER 10001:10001", "USER dmon")
    text = dockerfile_copy.read_text()
    assert not exec_form_entrypoint(text)
    assert not numeric_user(text)
    assert not numeric_user(text.replace("USER dmon", "USER 0"))


def test_dockerignore_keeps_local_state_out_of_the_context():
    lines = (SOURCE / ".dockerignore").read_text().split()
    for entry in (".git", "build/", "data/", "**/node_modules/"):
        assert entry in lines
