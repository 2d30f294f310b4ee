"""Given the bundle, the Lambda assets hold the right code and Linux arm64 wheels, within limits."""

from __future__ import annotations

import pytest

from infra import bundle

pytestmark = pytest.mark.infrastructure

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # a function and all its layers


def test_code_asset_has_loyalty_and_functions_at_its_root() -> None:
    code = bundle.code_asset()
    assert (code / "loyalty" / "__init__.py").is_file()
    assert (code / "functions" / "__init__.py").is_file()
    assert not list(code.rglob("__pycache__"))


def test_code_asset_is_stable_when_nothing_changed() -> None:
    assert bundle.code_asset() == bundle.code_asset()


def test_dependencies_layer_has_linux_arm64_wheels_and_no_boto3() -> None:
    site = bundle.dependencies_layer() / "python"
    for package in ("aws_lambda_powertools", "pydantic", "phonenumbers", "ulid"):
        assert (site / package).is_dir(), package
    # Tokens are checked by API Gateway's Cognito authorizer in AWS: the local gateway's JWT library stays out.
    assert not (site / "jwt").exists() and not (site / "cryptography").exists()
    native = [p.name for p in (site / "pydantic_core").glob("*.so")]
    assert native and all("cpython-313-aarch64-linux-gnu" in name for name in native)
    assert not (site / "boto3").exists() and not (site / "botocore").exists()


def test_asset_sizes_fit_lambda_and_are_recorded() -> None:
    sizes = bundle.asset_sizes()
    assert set(sizes) == {"code", "dependencies"}
    assert sum(s.unzipped_bytes for s in sizes.values()) < LAMBDA_UNZIPPED_LIMIT
    assert all(s.zipped_bytes and s.zipped_bytes < s.unzipped_bytes for s in sizes.values())
    assert (bundle.BUILD / "asset-sizes.json").is_file()
