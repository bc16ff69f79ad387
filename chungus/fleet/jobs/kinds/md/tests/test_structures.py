from __future__ import annotations

import sys

from chungus.fleet.jobs.kinds.md import structures


def test_it_lists_villin_and_solvated_villin_with_their_atoms():
    listed = {s["name"]: s for s in structures.catalogue()}
    assert listed["villin"]["atoms"] == 596
    assert listed["villin-solvated"]["atoms"] == 8867
    assert all(s["description"] for s in listed.values())


def test_every_packaged_structure_is_installed():
    for structure in structures.STRUCTURES:
        assert structure.path().is_file()


def test_it_finds_by_name_or_says_none():
    assert structures.find("villin").resource == "tests/data/test.pdb"
    assert structures.find("nope") is None


def test_listing_them_does_not_import_openmm():
    import subprocess

    code = (
        "import sys; from chungus.fleet.jobs.kinds.md import structures; "
        "structures.catalogue(); assert 'openmm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
