"""The ensemble spec: the MD spec plus the ensemble's own keys, one seed a replica."""

import pytest

from chungus.fleet.jobs.kinds.base import SpecError
from chungus.fleet.jobs.kinds.ensemble.spec import complete, replica_spec


def test_defaults_give_four_replicas_with_their_own_seeds():
    spec = complete({"structure": "villin", "ns": 0.01}, None, None)
    assert spec["replicas"] == 4 and len(set(spec["seeds"])) == 4
    assert spec["md"]["structure"] == "villin" and spec["md"]["ns"] == 0.01
    assert "seed" not in spec["md"] and spec["reference_file"] is None
    assert spec["max_retries"] == 2 and spec["rmsd_threshold_nm"] == 0.3


def test_a_given_seed_makes_the_replicas_repeatable():
    one = complete({"structure": "villin", "replicas": 3, "seed": 100}, None, None)
    assert one["seeds"] == [100, 101, 102]
    assert [replica_spec(one, i)["seed"] for i in range(3)] == [100, 101, 102]
    assert replica_spec(one, 1)["structure"] == "villin"


def test_an_uploaded_structure_and_reference_are_named_by_chungus():
    spec = complete({}, ".cif", ".pdb")
    assert spec["md"]["structure_file"] == "input/structure.cif"
    assert spec["reference_file"] == "input/reference.pdb"


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": 257}, "replicas"),
        ({"replicas": "4"}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"max_retries": 11}, "max_retries"),
        ({"seed": 0}, "seed"),
        ({"rmsd_threshold_nm": 0}, "rmsd_threshold_nm"),
        ({"rmsd_threshold_nm": "x"}, "rmsd_threshold_nm"),
        ({"ns": -1}, "ns"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_wrong_value_names_its_parameter(changes, param):
    with pytest.raises(SpecError) as caught:
        complete({"structure": "villin", **changes}, None, None)
    assert caught.value.param == param
