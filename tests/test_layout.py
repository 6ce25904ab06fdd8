"""Every module of the application imports on its own, in any order: no import cycle
works only because some other module happened to be imported first."""
import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_APPLICATION = {"tests", "bench", "scripts", "docs", "deploy", "devtools", "instance", ".venv", ".git"}


def application_modules():
    modules = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_APPLICATION:
            continue
        name = ".".join(parts)[: -len(".py")]
        modules.append(name.removesuffix(".__init__"))
    return modules


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """A configured instance, so that `worker` (which builds the app) imports too."""
    instance = tmp_path_factory.mktemp("instance")
    env = {
        **os.environ,
        "FLASK_SECRET_KEY": "k" * 40,
        "FLASK_DATABASE_URL": f"sqlite:///{instance}/db.sqlite",
        "FLASK_QUEUE_URL": f"sqlite:///{instance}/queue.sqlite",
    }
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "upgrade-db"], cwd=ROOT, env=env, check=True, capture_output=True)
    return env


def import_in_a_fresh_interpreter(modules, env):
    code = "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)"
    return subprocess.run([sys.executable, "-c", code, *modules], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("module", application_modules())
def test_each_module_imports_alone(module, environment):
    result = import_in_a_fresh_interpreter([module], environment)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_all_modules_import_in_either_order(order, environment):
    modules = application_modules()
    result = import_in_a_fresh_interpreter(modules if order == "sorted" else modules[::-1], environment)
    assert result.returncode == 0, result.stderr


def image_files():
    """The files `docker build` sends into the image: the tree minus .dockerignore's
    patterns (Docker's rules as far as this file uses them: a path, a glob, `**/`)."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]

    def ignored(relative):
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(part, pattern[3:]))
            for pattern in patterns
            for prefix, part in zip(prefixes, parts)
        )

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [path for path in tracked if not ignored(path)]


def test_the_image_ships_no_development_helpers_and_runs_without_them(tmp_path):
    shipped = image_files()
    assert not [path for path in shipped if path.split("/")[0] in {"devtools", "tests", "bench", "scripts"}]
    image = tmp_path / "app"
    for path in shipped:
        (image / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, image / path)
    env = {
        **os.environ,
        "FLASK_SECRET_KEY": "k" * 40,
        "FLASK_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "FLASK_QUEUE_URL": f"sqlite:///{tmp_path}/queue.sqlite",
    }
    for command in (["-m", "flask", "--app", "app", "upgrade-db"], ["-c", "from app import create_app; create_app()"], ["-c", "import worker"]):
        result = subprocess.run([sys.executable, *command], cwd=image, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
