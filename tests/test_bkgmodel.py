"""The background model in the processor: per-event columns for any centre, ONNX reweighters
applied per chunk equal the torch computation on the saved columns."""

import json

import numpy as np
import pytest

from hh4b.constants import ATLAS_HH_CENTRE, DHH_CENTRE
from hh4b.run import load_fileset, process_fileset
from hh4b.selection import region_codes
from processors.hh4b_processor import HH4bProcessor
from toys import hh_events, write_nanoaod

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def multijet_fileset(tmp_path_factory):
    """A toy 'qcd4b' dataset: h -> bb pairs with tag inefficiency, so 2b, 3b and 4b events fill the
    mass-plane regions (2 files, 1500 events each)."""
    folder = tmp_path_factory.mktemp("multijet")
    files = {}
    for seed in (11, 12):
        path = folder / f"mj{seed}.root"
        write_nanoaod(path, hh_events(1500, 300.0, seed))
        files[str(path)] = "Events"
    fileset = {"qcd4b": {"files": files, "metadata": {"process": "qcd4b", "xsec_pb": 2.0, "sumw": 3000.0,
                                                      "n_events": 3000, "btag_wp": "70", "sqrt_s": 14000}}}
    path = folder / "fileset.json"
    path.write_text(json.dumps(fileset))
    return path


def _columns(output):
    from hh4b.background import gather_columns

    return gather_columns(output)


@pytest.mark.parametrize("centre", [DHH_CENTRE, ATLAS_HH_CENTRE])
def test_columns_follow_the_processor_centre(multijet_fileset, centre):
    output = process_fileset(load_fileset(multijet_fileset), HH4bProcessor(dhh_centre=centre, methods=("cut_mindr",),
                                                                           save_columns=True),
                             "iterative", chunksize=1000, progress=False)
    cols = _columns(output)
    np.testing.assert_array_equal(cols["mass_region"], region_codes(cols["mh1"], cols["mh2"], centre))
    np.testing.assert_array_equal(cols["region"], np.where(cols["veto_ok"], cols["mass_region"], 0))
    assert (cols["region"] > 0).sum() > 50 and (~cols["veto_ok"]).any()
    other = ATLAS_HH_CENTRE if centre == DHH_CENTRE else DHH_CENTRE
    assert (cols["mass_region"] != region_codes(cols["mh1"], cols["mh2"], other)).any()
