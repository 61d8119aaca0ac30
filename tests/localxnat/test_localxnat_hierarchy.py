"""Projects, subjects and MR sessions (checklist items 9-14 and 24)."""

from __future__ import annotations

import csv
import io

import pytest
import requests

MR = {"xsiType": "xnat:mrSessionData"}


def h3(response: requests.Response) -> str:
    return response.text.split("<h3>", 1)[1].split("</h3>", 1)[0]


def test_project_put_rules(xnat, owner, reader) -> None:
    url = f"{xnat.url}/data/projects"
    created = owner.put(f"{url}/PROJ_1")
    assert (created.status_code, created.content) == (200, b"")
    assert owner.put(f"{url}/PROJ_1").status_code == 200
    bad = owner.put(f"{url}/bad.id")
    assert (bad.status_code, h3(bad)) == (417, "Invalid character in project ID.")
    clash = owner.put(f"{url}/proj_1")
    assert clash.status_code == 409
    assert h3(clash).startswith("Requested new project conflicts with existing projects")
    refused = reader.put(f"{url}/PROJ_1")
    assert refused.status_code == 403
    assert h3(refused) == f"User {xnat.reader} doesn't have permission to edit the project PROJ_1"
    assert reader.put(f"{url}/READER_P").status_code == 403


def test_project_item_and_listing(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    item = owner.get(f"{xnat.url}/data/projects/P1", params={"format": "json"}).json()
    entry = item["items"][0]
    assert entry["meta"]["xsi:type"] == "xnat:projectData"
    assert entry["data_fields"]["ID"] == "P1"
    assert entry["data_fields"]["name"] == "P1"
    assert entry["data_fields"]["secondary_ID"] == "P1"
    assert entry["children"] == []
    html = owner.get(f"{xnat.url}/data/projects/P1")
    assert html.headers["Content-Type"].startswith("text/html")
    missing = owner.get(f"{xnat.url}/data/projects/NOPE", params={"format": "json"})
    assert missing.status_code == 404
    rows = owner.get(f"{xnat.url}/data/projects", params={"format": "json"}).json()["ResultSet"]
    assert rows["totalRecords"] == "1"
    assert rows["Result"][0]["URI"] == "/data/projects/P1"
    assert set(rows["Result"][0]) >= {"ID", "secondary_ID", "name", "description", "URI"}


def test_subject_put_and_listing(xnat, owner, reader) -> None:
    base = f"{xnat.url}/data/projects/P1/subjects"
    owner.put(f"{xnat.url}/data/projects/P1")
    first = owner.put(f"{base}/s1")
    assert (first.status_code, first.text) == (201, "XNAT_S00001")
    assert first.headers["Content-Type"].startswith("text/plain")
    again = owner.put(f"{base}/s1")
    assert (again.status_code, again.text) == (200, "XNAT_S00001")
    by_id = owner.put(f"{base}/XNAT_S00001")
    assert (by_id.status_code, by_id.text) == (200, "XNAT_S00001")
    assert owner.put(f"{base}/S1").text == "XNAT_S00002"  # case-sensitive
    missing = owner.put(f"{xnat.url}/data/projects/NOPE/subjects/s1")
    assert missing.status_code == 422
    assert reader.put(f"{base}/s3").status_code == 403
    assert owner.put(f"{base}/bad%20label").status_code == 500
    assert owner.put(f"{base}/{'x' * 256}").status_code == 400
    listing = owner.get(base, params={"format": "json"}).json()["ResultSet"]
    assert listing["totalRecords"] == "2"
    row = listing["Result"][0]
    assert set(row) >= {"ID", "project", "label", "insert_date", "insert_user", "URI"}
    assert row["URI"] == "/data/subjects/XNAT_S00001"
    assert all(isinstance(v, str) for v in row.values())
    item = owner.get(f"{base}/s1", params={"format": "json"}).json()["items"][0]
    assert item["data_fields"]["ID"] == "XNAT_S00001"
    gone = owner.get(f"{base}/nobody", params={"format": "json"})
    assert gone.status_code == 404
    assert "does not contain a subject identifiable by the ID or label nobody" in h3(gone)


def test_experiment_put_rules(xnat, owner, reader) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    base = f"{xnat.url}/data/projects/P1/subjects/subj/experiments"
    new = owner.put(f"{base}/MR1", params=MR)
    assert (new.status_code, new.text) == (201, "XNAT_E00001")
    # The subject was created on the way.
    assert owner.get(f"{xnat.url}/data/projects/P1/subjects/subj?format=json").status_code == 200
    same = owner.put(f"{base}/MR1", params=MR)
    assert (same.status_code, same.text) == (200, "XNAT_E00001")
    assert owner.put(f"{base}/MR1").status_code == 200  # existing: no xsiType needed
    no_type = owner.put(f"{base}/MR2")
    assert (no_type.status_code, h3(no_type)) == (417, "Need PUT Contents")
    assert owner.put(f"{base}/mr1", params=MR).text == "XNAT_E00002"
    assert owner.put(f"{base}/bad.label", params=MR).status_code == 500
    assert owner.put(f"{base}/{'x' * 256}", params=MR).status_code == 400
    missing = owner.put(f"{xnat.url}/data/projects/NOPE/subjects/s/experiments/E", params=MR)
    assert missing.status_code == 404
    assert reader.put(f"{base}/MR9", params=MR).status_code == 403


def test_accession_numbers_are_never_reused(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    base = f"{xnat.url}/data/projects/P1/subjects"
    assert owner.put(f"{base}/a/experiments/E1", params=MR).text == "XNAT_E00001"
    assert owner.delete(f"{base}/a/experiments/E1").status_code == 200
    assert owner.delete(f"{base}/a").status_code == 200
    assert owner.put(f"{base}/b").text == "XNAT_S00002"
    assert owner.put(f"{base}/b/experiments/E1", params=MR).text == "XNAT_E00002"


def test_experiment_listings_and_items(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    owner.put(f"{xnat.url}/data/projects/P1/subjects/s1/experiments/s1_MR1", params=MR)
    expected = {
        "ID": "XNAT_E00001",
        "project": "P1",
        "date": "",
        "xsiType": "xnat:mrSessionData",
        "label": "s1_MR1",
        "URI": "/data/experiments/XNAT_E00001",
        "xnat:subjectassessordata/id": "XNAT_E00001",
    }
    for path in (
        "/data/projects/P1/experiments",
        "/data/projects/P1/subjects/s1/experiments",
        "/data/projects/P1/subjects/XNAT_S00001/experiments",
        "/data/experiments?project=P1",
        "/data/archive/projects/P1/experiments",
    ):
        result = owner.get(xnat.url + path, params={"format": "json"}).json()["ResultSet"]
        assert result["totalRecords"] == "1", path
        row = result["Result"][0]
        assert {k: row[k] for k in expected} == expected
        assert "insert_date" in row
    for path in (
        "/data/projects/P1/experiments/s1_MR1",
        "/data/projects/P1/experiments/XNAT_E00001",
        "/data/projects/P1/subjects/s1/experiments/s1_MR1",
        "/data/experiments/XNAT_E00001",
        "/data/archive/experiments/XNAT_E00001",
    ):
        item = owner.get(xnat.url + path, params={"format": "json"}).json()["items"][0]
        assert item["meta"]["xsi:type"] == "xnat:mrSessionData", path
        assert item["data_fields"]["label"] == "s1_MR1"
        assert item["data_fields"]["subject_ID"] == "XNAT_S00001"
    missing = owner.get(f"{xnat.url}/data/projects/P1/experiments/nope?format=json")
    assert (missing.status_code, h3(missing)) == (404, "Unable to find the specified experiment.")


def test_experiment_html_page_for_browsers(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    owner.put(f"{xnat.url}/data/projects/P1/subjects/s1/experiments/s1_MR1", params=MR)
    owner.put(f"{xnat.url}/data/projects/P1/experiments/s1_MR1/resources/FS")
    for params in ({}, {"format": "html"}):
        page = owner.get(f"{xnat.url}/data/projects/P1/experiments/s1_MR1", params=params)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert "s1_MR1" in page.text
        assert "s1" in page.text
        assert "FS" in page.text


@pytest.mark.parametrize(
    ("path", "columns", "key"),
    [
        ("/data/projects", "ID", "ID"),
        ("/data/projects/P1/subjects", "ID,label", "label"),
        ("/data/projects/P1/subjects/s1/experiments", "ID,label", "label"),
        (
            "/data/projects/P1/subjects/s1/experiments/E1/resources",
            "xnat_abstractresource_id,label",
            "label",
        ),
    ],
)
def test_csv_listings_as_pyxnat_asks(xnat, owner, path: str, columns: str, key: str) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    owner.put(f"{xnat.url}/data/projects/P1/subjects/s1/experiments/E1", params=MR)
    owner.put(f"{xnat.url}/data/projects/P1/subjects/s1/experiments/E1/resources/FS")
    response = owner.get(xnat.url + path, params={"format": "csv", "columns": columns})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    assert set(columns.split(",")) <= set(rows[0])
    assert rows[0][key] in {"P1", "s1", "E1", "FS"}


def test_delete_project_with_files(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    owner.put(f"{xnat.url}/data/projects/P1/subjects/s1/experiments/E1", params=MR)
    assert (xnat.root / "P1" / "arc001").is_dir()
    assert owner.delete(f"{xnat.url}/data/projects/P1", params={"removeFiles": "true"}).ok
    assert not (xnat.root / "P1").exists()
    assert owner.get(f"{xnat.url}/data/projects/P1?format=json").status_code == 404


def test_other_owner_cannot_change_a_project(tmp_path) -> None:
    from fsxnat_gui.localxnat import serve

    with serve(tmp_path, users={"alice": "a", "bob": "b"}) as url:
        assert requests.put(f"{url}/data/projects/A", auth=("alice", "a"), timeout=10).ok
        refused = requests.put(f"{url}/data/projects/A", auth=("bob", "b"), timeout=10)
        assert refused.status_code == 403
        assert h3(refused) == "User bob doesn't have permission to edit the project A"
        mine = requests.put(f"{url}/data/projects/B", auth=("bob", "b"), timeout=10)
        assert mine.status_code == 200
