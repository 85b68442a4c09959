"""Imports point down the picture of the apps (docs/architecture.md): a model, service or
selector never imports an app above its own. Doors — pages, the admin, URLs, tasks,
management commands, template tags, forms — sit on top and may call any app's services.
A lower layer that must trigger something above it writes a row the upper one reads
(``RequestEvent``, ``ModeChange.to_tell``, ``Appointment.to_tell``)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "emporter"

LAYER = {
    "network": 0,
    "catalogue": 1,
    "patrons": 1,
    "holds": 2,
    "curbside": 3,
    **dict.fromkeys(["picking", "desk", "notices", "stats", "phonedesk", "discovery", "imports"], 4),
    **dict.fromkeys(["api", "jobs", "demo", "privacy"], 5),
}
DOORS = {"views.py", "admin.py", "urls.py", "tasks.py", "forms.py", "apps.py", "context_processors.py"}
DOOR_FOLDERS = {"management", "templatetags", "migrations"}


def is_door(path: Path) -> bool:
    return path.name in DOORS or bool(DOOR_FOLDERS.intersection(path.parts))


def imported_apps(path: Path) -> set[str]:
    """The apps of ``emporter`` that ``path`` imports, at the top or inside functions."""
    apps = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "emporter" and len(parts) > 1 and parts[1] in LAYER:
                apps.add(parts[1])
    return apps


def upward_imports() -> list[str]:
    found = []
    for app, layer in LAYER.items():
        for path in sorted((PACKAGE / app).rglob("*.py")):
            if is_door(path):
                continue
            for other in sorted(imported_apps(path)):
                if LAYER[other] > layer:
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports emporter.{other}")
    return found


def test_every_app_has_a_layer():
    apps = {p.parent.name for p in PACKAGE.glob("*/apps.py")}
    assert apps == set(LAYER)


def test_no_model_service_or_selector_imports_an_app_above_its_own():
    assert upward_imports() == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "services.py"
    module.write_text("def f():\n    from emporter.notices.compose import compose_all\n")
    assert imported_apps(module) == {"notices"}
