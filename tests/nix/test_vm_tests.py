"""What can be checked of the NixOS VM tests without running them (that needs a
Nix store and KVM, `nix flake check`): every test is listed in vm-tests/default.nix,
its test script is valid Python once Nix has rendered it, and the machines it
drives are nodes of the test."""

from __future__ import annotations

import ast
import json

import pytest

from tests.nix.nixeval import ROOT, nix

TESTS = sorted(
    p.stem for p in (ROOT / "vm-tests").glob("*.nix") if p.stem not in ("default", "box")
)


def _eval(expr: str) -> object:
    done = nix("--eval", "--strict", "--json", "--expr", expr)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_vm_test_is_a_check() -> None:
    listed = (ROOT / "vm-tests" / "default.nix").read_text()
    assert TESTS == ["hardening", "mail", "web"]
    for name in TESTS:
        assert f"{name} = run ./{name}.nix;" in listed


@pytest.mark.parametrize("name", TESTS)
def test_script_is_python_and_drives_its_own_nodes(name: str) -> None:
    test = f"(import {ROOT}/vm-tests/{name}.nix {{ self = {{ }}; }})"
    script = _eval(f"{test}.testScript")
    nodes = _eval(f"builtins.attrNames {test}.nodes")
    assert isinstance(script, str) and isinstance(nodes, list)
    tree = ast.parse(script, filename=f"vm-tests/{name}.nix")
    driven = {
        node.func.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.attr in ("succeed", "fail", "wait_for_unit", "wait_for_open_port")
    }
    assert driven, "the script drives no machine"
    assert driven <= set(nodes), f"machines that are not nodes: {driven - set(nodes)}"
