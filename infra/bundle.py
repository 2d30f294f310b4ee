"""Lambda assets built without Docker: one code directory and one dependencies layer.

- The code asset holds `shared/loyalty` as the top-level package `loyalty` plus the `functions`
  package, so every handler string in `definitions.FUNCTIONS` imports from the asset's root.
  It is copied on every synth (a few hundred files, milliseconds) into a directory named by a
  hash of its content, so CDK sees a stable asset when nothing changed.
- The dependencies layer holds the locked runtime dependencies (`uv export` of the non-dev
  dependencies, boto3 pruned because the Lambda runtime ships it) installed as wheels for
  Lambda's platform with `uv pip install --python-platform ... --only-binary :all:`. It is
  cached under `.build/` by a hash of `uv.lock`, so PyPI is asked once per lock change.

`asset_sizes()` reports both assets for the benchmark and records them in `.build/asset-sizes.json`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build"

# The Lambda runtime the layer is built for; lambda_factory.RUNTIME must name the same version.
PYTHON_VERSION = "3.13"
# python3.13 runs on Amazon Linux 2023 (glibc 2.34), so any manylinux wheel up to 2_34 loads.
PLATFORM = "aarch64-manylinux_2_34"
# Packages the runtime already provides; pruning boto3 also drops botocore, s3transfer, urllib3...
RUNTIME_PROVIDED = ("boto3",)
# Bump to rebuild cached layers when the recipe below changes.
RECIPE = "1"

CODE_SOURCES = {"loyalty": ROOT / "shared" / "loyalty", "functions": ROOT / "functions"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache")


class BundleError(RuntimeError):
    """The assets could not be built; the message says what to do."""


@dataclass(frozen=True)
class AssetSize:
    path: str
    files: int
    unzipped_bytes: int
    zipped_bytes: int | None = None


def code_asset() -> Path:
    """Directory with `loyalty/` and `functions/`; a missing source directory is skipped."""
    sources = {name: path for name, path in CODE_SOURCES.items() if path.is_dir()}
    digest = hashlib.sha256(RECIPE.encode())
    for name, path in sorted(sources.items()):
        for file in _files(path):
            digest.update(f"{name}/{file.relative_to(path).as_posix()}\0".encode())
            digest.update(file.read_bytes())
    target = BUILD / "code" / digest.hexdigest()[:16]
    if not target.is_dir():
        staging = _staging_dir(target.parent)
        for name, path in sources.items():
            shutil.copytree(path, staging / name, ignore=IGNORED)
        _publish(staging, target)
    return target


def dependencies_layer() -> Path:
    """Layer directory (`python/...`) with the locked runtime dependencies for Lambda arm64."""
    lock = ROOT / "uv.lock"
    if not lock.is_file():
        raise BundleError(f"{lock} is missing: run `uv lock` first.")
    key = hashlib.sha256(lock.read_bytes() + f"{RECIPE}|{PYTHON_VERSION}|{PLATFORM}".encode()).hexdigest()
    target = BUILD / "dependencies" / key[:16]
    if target.is_dir():
        return target
    uv = _uv()
    staging = _staging_dir(target.parent)
    try:
        requirements = staging / "requirements.txt"
        prune = [arg for name in RUNTIME_PROVIDED for arg in ("--prune", name)]
        export = [uv, "export", "--project", str(ROOT), "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
        _run([*export, "--no-header", "--no-annotate", "--quiet", *prune, "--output-file", str(requirements)])
        install = [uv, "pip", "install", "--target", str(staging / "python"), "--requirement", str(requirements)]
        platform = ["--python-platform", PLATFORM, "--python-version", PYTHON_VERSION, "--only-binary", ":all:"]
        # --no-deps: the export is already the full, pinned closure, so nothing is resolved twice.
        _run([*install, *platform, "--no-deps", "--quiet"], network=True)
        requirements.unlink()
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)  # console scripts are no use in a layer
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(staging, target)
    print(f"bundle: built the dependencies layer {target.relative_to(ROOT)}", file=sys.stderr)
    return target


def asset_sizes(zipped: bool = True) -> dict[str, AssetSize]:
    """Size of each asset (building it if needed), also written to `.build/asset-sizes.json`.

    Lambda's limits: 250 MB unzipped for a function and its layers together, 50 MB zipped
    for a direct upload (CDK uploads through S3, where the unzipped limit is what binds).
    """
    sizes = {
        "code": _measure(code_asset(), zipped),
        "dependencies": _measure(dependencies_layer(), zipped),
    }
    (BUILD / "asset-sizes.json").write_text(json.dumps({k: asdict(v) for k, v in sizes.items()}, indent=2))
    return sizes


def describe(sizes: dict[str, AssetSize]) -> str:
    return ", ".join(f"{name} {size.unzipped_bytes / 1e6:.1f} MB ({size.files} files)" for name, size in sizes.items())


def _files(root: Path) -> list[Path]:
    skip = {"__pycache__", ".pytest_cache", ".mypy_cache"}
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not skip.intersection(p.relative_to(root).parts) and p.suffix not in {".pyc", ".pyo"}
    )


def _measure(path: Path, zipped: bool) -> AssetSize:
    files = _files(path)
    zipped_bytes = None
    if zipped:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, file.relative_to(path).as_posix())
        zipped_bytes = buffer.tell()
    return AssetSize(
        path=str(path.relative_to(ROOT)),
        files=len(files),
        unzipped_bytes=sum(f.stat().st_size for f in files),
        zipped_bytes=zipped_bytes,
    )


def _staging_dir(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))


def _publish(staging: Path, target: Path) -> None:
    """Move a finished build into place, then drop older builds of the same kind."""
    try:
        staging.rename(target)
    except OSError:  # a parallel synth published the same content first
        shutil.rmtree(staging, ignore_errors=True)
        return
    for old in target.parent.iterdir():
        if old != target and not old.name.startswith(".staging-"):
            shutil.rmtree(old, ignore_errors=True)


def _uv() -> str:
    # `uv run` exports UV; otherwise look on PATH.
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        raise BundleError(
            "uv is needed to export and install the locked Lambda dependencies: put it on PATH, "
            "set UV=/path/to/uv, or run the command through `uv run`."
        )
    return uv


def _run(command: list[str], network: bool = False) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        hint = (
            "Downloading the Lambda dependencies failed. The first synth after a uv.lock change needs "
            f"PyPI (wheels for {PLATFORM}, Python {PYTHON_VERSION}); later synths use the cache in .build/."
            if network
            else "Exporting the locked dependencies failed."
        )
        raise BundleError(f"{hint}\n$ {' '.join(command)}\n{result.stderr.strip()[-2000:]}")
