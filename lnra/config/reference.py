"""The option reference, generated from the declarations: ``docs/options.md`` and ``python run.py --help``.
``--help`` prints the committed file's rows (a test keeps it current): it answers without importing torch."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from pydantic import BaseModel

from lnra.config.options import Option, describe, import_target, options_of, settings_class, show


def _targets(node: Any, key: str) -> Iterator[tuple[str, str]]:
    """(option prefix, _target_) of every entry in a YAML file's tree (an interpolation is set elsewhere)."""
    if isinstance(node, dict) and "_target_" in node and not str(node["_target_"]).startswith("${"):
        yield key, str(node["_target_"])
    pairs = (node.items() if isinstance(node, dict)
             else [("N", item) for item in node] if isinstance(node, list) else ())
    for child, value in pairs:
        yield from _targets(value, f"{key}.{child}".lstrip("."))


def _rows(prefix: str, options: dict[str, Option]) -> Iterator[tuple[str, str, str, str]]:
    """The reference's rows; lnra's parameters without help are what the run wires in, not options."""
    for name, option in options.items():
        key = f"{prefix}.{name}".lstrip(".")
        if (nested := settings_class(option.annotation)) is not None:
            yield from _rows(key, options_of(nested))
        elif option.help or not option.owner.startswith("lnra."):
            default = "required" if option.default is inspect.Parameter.empty else show(option.default)
            yield key, describe(option.annotation), default, option.help


def sections(conf_dir: Path, settings: type[BaseModel]) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """(title, rows) for the run's settings and every class a file of ``conf/`` builds, with its prefixes."""
    built: dict[str, set[str]] = {}
    for path in sorted(conf_dir.rglob("*.yaml")):
        group = path.relative_to(conf_dir).parent.as_posix()  # conf/_pseudo_*.yaml: pseudo
        package = group.replace("/", ".") if group != "." else path.stem.lstrip("_").split("_")[0]
        tree = OmegaConf.to_container(OmegaConf.load(path))
        for key, target in _targets(tree, "" if "@package _global_" in path.read_text() else package):
            built.setdefault(target, set()).add(key)
    out = [("the run (top level, paths, pseudo-anomaly variant)", list(_rows("", options_of(settings))))]
    for target, prefixes in sorted(built.items(), key=lambda kv: min(kv[1])):
        rows = list(_rows(min(prefixes), options_of(import_target(target))))
        out.append((f"{' / '.join(sorted(prefixes))}: `{target}`", rows))
    return out


def markdown(conf_dir: Path, settings: type[BaseModel]) -> str:
    lines = ["# Options", "", "Every option: what is allowed, its default and what it does — generated from "
             "the signatures of the classes the config builds (`python -m lnra.config.reference > "
             "docs/options.md`). A mistake reads `error: key=value: what is allowed`. Defaults set by a "
             "config file are in that file."]
    for title, rows in sections(conf_dir, settings):
        lines += ["", f"## {title}", "", "| option | allowed | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{key}` | " + " | ".join(c.replace("|", "&#124;") for c in rest) + " |"
                  for key, *rest in rows]
    return "\n".join(lines) + "\n"


def help_text() -> str:
    """The reference as ``--help`` prints it, one option per line, read from ``docs/options.md``."""
    path = Path(os.environ.get("LNRA_ROOT", ".")) / "docs" / "options.md"
    if not path.is_file():
        return "(the option reference is docs/options.md in the lnra repository)"
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            out.append(line[3:].replace("`", "") + ":")
        elif line.startswith("| `"):
            key, allowed, default, meaning = (c.strip().strip("`").replace("&#124;", "|")
                                              for c in line.strip("|").split(" | "))
            out.append(f"  {key} ({allowed}; default {default}): {meaning}")
    return "\n".join(out).replace("$", "$$")  # Hydra fills the help template with string.Template


if __name__ == "__main__":  # python -m lnra.config.reference > docs/options.md
    print(markdown(Path("conf"), import_target("lnra.run.settings.RunSettings")), end="")
