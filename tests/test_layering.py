"""The layering contract: the core names no benchmark or model code; envs and policies stay apart.

Walks every import statement (module level and inside functions) of the three packages. Only the CLI
(``vla_bench/cli.py``, ``vla_bench/commands/``) composes the core with ``envs`` and ``policies``.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSERS = ("vla_bench/cli.py", "vla_bench/commands/")
RULES = {  # package -> top-level packages its modules may not import
    "vla_bench": {"envs", "policies"},
    "envs": {"policies"},
    "policies": {"envs"},
}


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def violations() -> list[str]:
    found = []
    for package, forbidden in RULES.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(COMPOSERS):
                continue
            for line, module in imports(path):
                if module.split(".")[0] in forbidden:
                    found.append(f"{rel}:{line} imports {module}")
    return found


def test_import_contract_holds():
    broken = violations()
    assert not broken, "layering contract broken:\n" + "\n".join(broken)


def test_the_walker_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from envs.metaworld import X\n    import policies.vla\n")
    assert imports(src) == [(2, "envs.metaworld"), (3, "policies.vla")]


if __name__ == "__main__":  # python tests/test_layering.py prints the contract and its verdict
    for package, forbidden in RULES.items():
        n = len(list((ROOT / package).rglob("*.py")))
        print(f"{package:<10} ({n} modules) may not import: {', '.join(sorted(forbidden))}"
              + ("  [except vla_bench/cli.py, vla_bench/commands/]" if package == "vla_bench" else ""))
    broken = violations()
    print("\n".join(broken) if broken else "contract kept: 0 violations")
