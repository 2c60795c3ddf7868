"""The datasets' own fault and start-failure figures, replayed through the engine and every stage
after it: Palo Alto's GFCI trips are the bills that end with GroundFault, Boulder's 0 kWh visits are
the 0 Wh bills, and a start_failures alert stands for each run of them the file holds."""

from __future__ import annotations

import csv

from bench.dataset_faults import DATASETS, FILES, replay


def test_paloalto_ended_by_is_the_stop_reason() -> None:
    path = DATASETS / FILES["paloalto"]
    with path.open(encoding="utf-8-sig") as f:
        gfci = sum(1 for row in csv.DictReader(f) if row["Ended By"] == "Final GFCI Tripped")
    got = replay("paloalto", path, 3600)
    assert gfci == 4
    assert got["ground_faults"] == {"file_final_gfci_tripped": gfci, "bills_ended_groundfault": gfci}
    assert got["bills"] == got["sessions_replayed"]


def test_zero_energy_visits_and_start_failures_match_the_file() -> None:
    got = replay("boulder", DATASETS / FILES["boulder"], 3600, limit=6000)
    assert got["zero_energy"]["file"] > 100
    assert got["zero_energy"]["bills"] == got["zero_energy"]["file"]
    assert got["start_failures"]["expected_from_file"] > 5
    assert got["start_failures"]["alerts"] == got["start_failures"]["expected_from_file"]
