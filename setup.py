"""Compile the gettext catalogs as part of every install, editable ones included."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    def run(self):
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_path in Path(__file__).parent.glob("app/translations/*/LC_MESSAGES/*.po"):
            with po_path.open("rb") as f:
                catalog = read_po(f)
            with po_path.with_suffix(".mo").open("wb") as f:
                write_mo(f, catalog)
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogs})
