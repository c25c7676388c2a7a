"""What pyproject.toml cannot say: the top-level templates/ ships as `reminders/templates`.

The folder stays where a clinic looks for it (beside the package); the wheel carries a copy
inside the package, found at run time with importlib.resources (see reminders/config.py).
"""

from setuptools import find_namespace_packages, setup

WORDING = [
    "reminders.templates",
    *(f"reminders.templates.{name}" for name in find_namespace_packages(where="templates")),
]

setup(
    packages=[*find_namespace_packages(include=["reminders*"]), *WORDING],
    package_dir={"reminders.templates": "templates"},
)
