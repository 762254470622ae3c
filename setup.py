"""Maps the three top-level folders onto the ``segur_sandbox`` namespace.

The folders are ``simulator/``, ``fixtures/`` and ``conformance/`` in the repository but are imported as
``segur_sandbox.<folder>``; setuptools needs every sub-package listed, so they are discovered here.
"""
from setuptools import find_packages, setup

AREAS = ("simulator", "fixtures", "conformance")

packages: list[str] = []
package_dir: dict[str, str] = {}
for area in AREAS:
    packages.append(f"segur_sandbox.{area}")
    package_dir[f"segur_sandbox.{area}"] = area
    packages += [f"segur_sandbox.{area}.{sub}" for sub in find_packages(area)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"": ["*.json", "*.csv", "*.xml", "*.xsd", "*.wsdl", "*.html", "*.css", "*.js", "*.sch"],
                  # the web console's templates and assets sit in plain folders (not packages) of its package
                  "segur_sandbox.simulator.console": ["templates/*.html", "static/*.css", "static/*.js"]},
)
