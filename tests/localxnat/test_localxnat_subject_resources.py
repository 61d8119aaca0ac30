"""Subject-level resources follow the experiment resources' rules (xnat-rest.md §3, §5).

Every rule is checked at both levels through the same helper, so a difference shows as a
failure of one parameter.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from fsxnat_gui.localxnat import serve

ZIP_FILES = {"base/mri/aseg.mgz": b"A" * 3000, "base/stats/aseg.stats": b"stats\n"}
EXTRACT = {"extract": "true", "inbody": "true"}


@dataclass
class Owner:
    """Where an owner's resources are addressed, listed and stored."""

    url: str  # by label
    by_id: str  # by accession id
    uri_base: str  # how file URIs in listings start
    cat_id: str
    area: Path  # the folder holding its resource folders

    def files(self, session: requests.Session, label: str = "FS") -> dict[str, dict[str, str]]:
        rows = session.get(f"{self.url}/resources/{label}/files", params={"format": "json"})
        return {r["URI"].split("/files/", 1)[1]: r for r in rows.json()["ResultSet"]["Result"]}

    def resources(self, session: requests.Session) -> list[dict[str, str]]:
        response = session.get(f"{self.url}/resources", params={"format": "json"})
        return response.json()["ResultSet"]["Result"]


@pytest.fixture(params=["experiment", "subject"])
def level(request, xnat, session_url) -> Owner:
    exp = session_url()  # P1 / subj01 (XNAT_S00001) / subj01_MR1 (XNAT_E00001)
    project = f"{xnat.url}/data/projects/P1"
    if request.param == "experiment":
        return Owner(
            url=exp,
            by_id=f"{project}/subjects/XNAT_S00001/experiments/XNAT_E00001",
            uri_base="/data/projects/P1/subjects/XNAT_S00001/experiments/XNAT_E00001",
            cat_id="XNAT_E00001",
            area=xnat.root / "P1" / "arc001" / "subj01_MR1" / "RESOURCES",
        )
    return Owner(
        url=f"{project}/subjects/subj01",
        by_id=f"{project}/subjects/XNAT_S00001",
        uri_base="/data/projects/P1/subjects/XNAT_S00001",
        cat_id="XNAT_S00001",
        area=xnat.root / "P1" / "subjects" / "subj01",
    )


def h3(response: requests.Response) -> str:
    return response.text.split("<h3>", 1)[1].split("</h3>", 1)[0]


def test_create_list_and_catalog(owner, level: Owner) -> None:
    created = owner.put(f"{level.url}/resources/FS_BASE", params={"content": "FS", "tags": "t"})
    assert (created.status_code, created.content) == (200, b"")
    again = owner.put(f"{level.url}/resources/FS_BASE")
    assert (again.status_code, h3(again)) == (409, "Specified resource already exists.")
    assert level.resources(owner) == [
        {
            "xnat_abstractresource_id": "1",
            "label": "FS_BASE",
            "element_name": "xnat:resourceCatalog",
            "category": "resources",
            "cat_id": level.cat_id,
            "cat_desc": " ",
            "file_count": "",
            "file_size": "",
            "tags": "t",
            "content": "FS",
            "format": "",
        }
    ]
    assert owner.put(f"{level.url}/resources/FS_BASE/extra").status_code == 400
    catalog = owner.get(f"{level.url}/resources/FS_BASE")
    assert '<cat:Catalog ID="FS_BASE"' in catalog.text
    assert (level.area / "FS_BASE" / "FS_BASE_catalog.xml").is_file()


def test_zip_upload_extracts_with_digests_by_label_or_id(
    xnat, owner, level: Owner, make_zip
) -> None:
    response = owner.post(
        f"{level.by_id}/resources/FS/files/base.zip",
        params=EXTRACT,
        data=make_zip({**ZIP_FILES, "base/FS_catalog.xml": b"<x/>"}),
    )
    assert (response.status_code, response.content) == (200, b"")
    listed = level.files(owner)
    assert set(listed) == set(ZIP_FILES)
    for path, data in ZIP_FILES.items():
        assert listed[path]["Size"] == str(len(data))
        assert listed[path]["digest"] == hashlib.md5(data).hexdigest()
        assert listed[path]["URI"] == f"{level.uri_base}/resources/1/files/{path}"
        assert (level.area / "FS" / path).read_bytes() == data
        assert owner.get(f"{level.url}/resources/FS/files/{path}").content == data
    assert not list((level.area / "FS").rglob("*.zip"))
    assert not list(level.area.glob(".staging-*"))
    row = level.resources(owner)[0]
    assert (row["file_count"], row["file_size"]) == ("2", str(sum(map(len, ZIP_FILES.values()))))


def test_multipart_and_raw_uploads_and_duplicates(owner, level: Owner, make_zip) -> None:
    multipart = owner.put(
        f"{level.url}/resources/FS/files",
        params={"extract": "true"},
        files={"anything": ("up.zip", make_zip(ZIP_FILES), "application/zip")},
    )
    assert multipart.status_code == 200
    raw = owner.put(
        f"{level.url}/resources/FS/files/notes/readme.txt",
        data=b"hello",
        headers={"Content-Type": "text/plain"},
    )
    assert raw.status_code == 200
    assert set(level.files(owner)) == {*ZIP_FILES, "notes/readme.txt"}
    changed = {"base/mri/aseg.mgz": b"B" * 10}
    url = f"{level.url}/resources/FS/files/up.zip"
    kept = owner.put(url, params=EXTRACT, data=make_zip(changed))
    assert kept.json() == {"duplicates": ["base/mri/aseg.mgz"]}
    assert level.files(owner)["base/mri/aseg.mgz"]["Size"] == "3000"
    replaced = owner.put(url, params={**EXTRACT, "overwrite": "true"}, data=make_zip(changed))
    assert (replaced.status_code, replaced.content) == (200, b"")
    assert level.files(owner)["base/mri/aseg.mgz"]["Size"] == "10"


def test_folder_listing_and_deletes(owner, level: Owner, make_zip) -> None:
    owner.put(f"{level.url}/resources/FS/files/a.zip", params=EXTRACT, data=make_zip(ZIP_FILES))
    sub = owner.get(f"{level.url}/resources/FS/files/base/mri/", params={"format": "json"})
    assert [r["Name"] for r in sub.json()["ResultSet"]["Result"]] == ["aseg.mgz"]
    assert owner.get(f"{level.url}/resources/FS/files/base/nope").status_code == 404
    assert level.files(owner, "NOPE") == {}
    assert owner.delete(f"{level.url}/resources/FS/files/base/stats").status_code == 200
    assert set(level.files(owner)) == {"base/mri/aseg.mgz"}
    assert not (level.area / "FS" / "base" / "stats" / "aseg.stats").exists()
    nomatch = owner.delete(f"{level.url}/resources/FS/files/base/stats")
    assert (nomatch.status_code, h3(nomatch)) == (404, "No matched files")
    unknown = owner.delete(f"{level.url}/resources/NOPE/files/x")
    assert (unknown.status_code, h3(unknown)) == (
        400,
        "Unable to determine resource, parent, or security.",
    )
    assert owner.delete(f"{level.url}/resources/FS").status_code == 200
    assert not (level.area / "FS").exists()
    assert owner.delete(f"{level.url}/resources/FS").status_code == 200
    assert level.resources(owner) == []


def test_zip_slip_is_refused(xnat, owner, level: Owner) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("base/good.txt", b"good")
        zf.writestr(zipfile.ZipInfo("../../evil.txt"), b"evil")
    response = owner.put(
        f"{level.url}/resources/FS/files/x.zip", params=EXTRACT, data=buffer.getvalue()
    )
    assert response.status_code == 400
    assert level.resources(owner) == []
    assert [p for p in (xnat.root / "P1").rglob("*") if p.is_file()] == []


def test_read_only_member(owner, reader, level: Owner, make_zip) -> None:
    owner.put(f"{level.url}/resources/FS")
    upload = reader.put(
        f"{level.url}/resources/FS/files/a.zip", params=EXTRACT, data=make_zip(ZIP_FILES)
    )
    assert (upload.status_code, upload.content) == (200, b"")
    assert level.files(owner) == {}
    refused = reader.put(f"{level.url}/resources/OTHER")
    assert (refused.status_code, h3(refused)) == (
        403,
        "User account doesn't have permission to modify this session.",
    )
    assert reader.delete(f"{level.url}/resources/FS").status_code == 403
    assert reader.get(f"{level.url}/resources/FS/files?format=json").status_code == 200


def test_unknown_subject(xnat, owner, session_url) -> None:
    session_url()
    missing = owner.put(f"{xnat.url}/data/projects/P1/subjects/NOPE/resources/FS")
    assert (missing.status_code, h3(missing)) == (404, "Unable to identify subject")
    listing = owner.get(f"{xnat.url}/data/projects/P1/subjects/NOPE/resources")
    assert listing.status_code == 404
    assert not (xnat.root / "P1" / "subjects" / "NOPE").exists()


def test_subject_item_shows_its_resources_and_delete_removes_them(
    xnat, owner, session_url, make_zip
) -> None:
    session_url()
    subject = f"{xnat.url}/data/projects/P1/subjects/subj01"
    owner.put(f"{subject}/resources/FS_BASE/files/a.zip", params=EXTRACT, data=make_zip(ZIP_FILES))
    item = owner.get(subject, params={"format": "json"}).json()["items"][0]
    [children] = item["children"]
    assert children["field"] == "resources/resource"
    assert [c["data_fields"]["label"] for c in children["items"]] == ["FS_BASE"]
    assert "FS_BASE" in owner.get(subject).text  # the HTML page
    assert owner.delete(subject, params={"removeFiles": "true"}).status_code == 200
    assert not (xnat.root / "P1" / "subjects" / "subj01").exists()
    assert owner.put(subject).status_code == 201  # a new subject: nothing left behind
    assert owner.get(f"{subject}/resources?format=json").json()["ResultSet"]["Result"] == []


def test_restart_keeps_subject_resources(tmp_path: Path, make_zip) -> None:
    users = {"u": "p"}
    with serve(tmp_path, users=users) as url, requests.Session() as s:
        s.auth = ("u", "p")
        s.put(f"{url}/data/projects/P1")
        s.put(f"{url}/data/projects/P1/subjects/s1")
        resource = f"{url}/data/projects/P1/subjects/s1/resources/FS_BASE"
        assert s.put(f"{resource}/files/a.zip", params=EXTRACT, data=make_zip(ZIP_FILES)).ok
    with serve(tmp_path, users=users) as url, requests.Session() as s:
        s.auth = ("u", "p")
        resource = f"{url}/data/projects/P1/subjects/s1/resources/FS_BASE"
        assert s.get(f"{resource}/files/base/stats/aseg.stats").content == b"stats\n"
