"""Resources, uploads, extraction and file operations (checklist items 15-25)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from fsxnat_gui.localxnat import serve

ZIP_FILES = {"subj01/mri/aseg.mgz": b"A" * 3000, "subj01/stats/aseg.stats": b"stats\n"}


def h3(response: requests.Response) -> str:
    return response.text.split("<h3>", 1)[1].split("</h3>", 1)[0]


def files_of(owner: requests.Session, resource_url: str) -> dict[str, dict[str, str]]:
    result = owner.get(f"{resource_url}/files", params={"format": "json"}).json()["ResultSet"]
    return {row["URI"].split("/files/", 1)[1]: row for row in result["Result"]}


def resource_dir(xnat, label: str = "FS") -> Path:
    return xnat.root / "P1" / "arc001" / "subj01_MR1" / "RESOURCES" / label


def test_resource_put_and_listing(xnat, owner, session_url) -> None:
    exp = session_url()
    created = owner.put(f"{exp}/resources/FS", params={"content": "FREESURFER", "tags": "a,b"})
    assert (created.status_code, created.content) == (200, b"")
    again = owner.put(f"{exp}/resources/FS")
    assert (again.status_code, h3(again)) == (409, "Specified resource already exists.")
    listing = owner.get(f"{exp}/resources", params={"format": "json"}).json()["ResultSet"]
    assert listing["title"] == "Resources"
    assert listing["totalRecords"] == "1"
    assert listing["Result"] == [
        {
            "xnat_abstractresource_id": "1",
            "label": "FS",
            "element_name": "xnat:resourceCatalog",
            "category": "resources",
            "cat_id": "XNAT_E00001",
            "cat_desc": " ",
            "file_count": "",
            "file_size": "",
            "tags": "a,b",
            "content": "FREESURFER",
            "format": "",
        }
    ]
    missing = owner.put(f"{xnat.url}/data/projects/P1/subjects/subj01/experiments/NOPE/resources/X")
    assert (missing.status_code, h3(missing)) == (404, "Unable to identify experiment")
    assert owner.put(f"{exp}/resources/FS/extra").status_code == 400
    catalog = owner.get(f"{exp}/resources/FS")
    assert catalog.headers["Content-Type"].startswith("text/xml")
    assert '<cat:Catalog ID="FS"' in catalog.text
    assert (resource_dir(xnat) / "FS_catalog.xml").is_file()


def test_raw_zip_upload_extracts_with_digests(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    owner.put(f"{exp}/resources/FS")
    response = owner.post(
        f"{exp}/resources/1/files/subj01.zip",
        params={"overwrite": "false", "inbody": "true", "extract": "true"},
        data=make_zip({**ZIP_FILES, "subj01/FS_catalog.xml": b"<x/>"}),
    )
    assert (response.status_code, response.content) == (200, b"")
    listed = files_of(owner, f"{exp}/resources/FS")
    assert set(listed) == set(ZIP_FILES)
    for path, data in ZIP_FILES.items():
        row = listed[path]
        assert row["Size"] == str(len(data))
        assert row["digest"] == hashlib.md5(data).hexdigest()
        assert row["Name"] == Path(path).name
        assert row["collection"] == "FS"
        assert row["cat_ID"] == "1"
        assert row["URI"] == (
            f"/data/projects/P1/subjects/XNAT_S00001/experiments/XNAT_E00001/resources/1/files/{path}"
        )
        assert (resource_dir(xnat) / path).read_bytes() == data
    assert not (resource_dir(xnat) / "subj01.zip").exists()
    assert not (resource_dir(xnat) / "subj01" / "FS_catalog.xml").exists()
    row = owner.get(f"{exp}/resources?format=json").json()["ResultSet"]["Result"][0]
    assert row["file_count"] == "2"
    assert row["file_size"] == str(sum(len(d) for d in ZIP_FILES.values()))
    by_eid = owner.get(f"{xnat.url}/data/experiments/XNAT_E00001/resources/FS/files?format=json")
    uri = by_eid.json()["ResultSet"]["Result"][0]["URI"]
    assert uri.startswith("/data/experiments/XNAT_E00001/resources/1/files/subj01/")
    columns = by_eid.json()["ResultSet"]["Columns"]
    assert columns == [{"key": "URI", "serverRoot": ""}]
    assert "totalRecords" not in by_eid.json()["ResultSet"]


def test_duplicates_and_overwrite(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    url = f"{exp}/resources/FS/files/up.zip"
    assert owner.put(url, params={"extract": "true", "inbody": "true"}, data=make_zip(ZIP_FILES)).ok
    changed = {"subj01/mri/aseg.mgz": b"B" * 10, "subj01/new.txt": b"new"}
    response = owner.put(url, params={"extract": "1", "inbody": "1"}, data=make_zip(changed))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.json() == {"duplicates": ["subj01/mri/aseg.mgz"]}
    listed = files_of(owner, f"{exp}/resources/FS")
    assert listed["subj01/mri/aseg.mgz"]["Size"] == "3000"
    assert "subj01/new.txt" in listed
    replaced = owner.put(
        url,
        params={"extract": "yes", "inbody": "true", "overwrite": "true"},
        data=make_zip(changed),
    )
    assert (replaced.status_code, replaced.content) == (200, b"")
    listed = files_of(owner, f"{exp}/resources/FS")
    assert listed["subj01/mri/aseg.mgz"]["Size"] == "10"
    assert listed["subj01/mri/aseg.mgz"]["digest"] == hashlib.md5(b"B" * 10).hexdigest()


@pytest.mark.parametrize("value", ["false", "0", "False"])
def test_false_flag_values(owner, session_url, make_zip, value: str) -> None:
    exp = session_url()
    response = owner.put(
        f"{exp}/resources/FS/files/a.zip",
        params={"extract": value, "inbody": "true"},
        data=make_zip(ZIP_FILES),
    )
    assert response.status_code == 200
    assert set(files_of(owner, f"{exp}/resources/FS")) == {"a.zip"}


@pytest.mark.parametrize(
    ("headers", "params", "data", "status", "message"),
    [
        ({}, {}, b"abc", 400, "but didn't provide any data"),
        ({"Content-Type": "application/octet-stream"}, {}, b"", 400, "entity size of 0"),
        (
            {"Content-Type": "multipart/form-data; boundary=x"},
            {"inbody": "true"},
            b"--x--",
            406,
            "In-body File posts",
        ),
    ],
)
def test_upload_refusals(owner, session_url, headers, params, data, status, message) -> None:
    exp = session_url()
    response = owner.put(
        f"{exp}/resources/FS/files/f.bin", headers=headers, params=params, data=data
    )
    assert response.status_code == status
    assert message in h3(response)
    assert files_of(owner, f"{exp}/resources/FS") == {}


def test_chunked_raw_upload_only_for_zip(owner, session_url, make_zip) -> None:
    exp = session_url()
    body = make_zip(ZIP_FILES)
    refused = owner.put(
        f"{exp}/resources/FS/files/a.bin",
        headers={"Content-Type": "application/octet-stream"},
        data=iter([body[:10], body[10:]]),
    )
    assert refused.status_code == 500
    accepted = owner.put(
        f"{exp}/resources/FS/files",
        params={"extract": "true"},
        headers={"Content-Type": "application/zip"},
        data=iter([body[:10], body[10:]]),
    )
    assert accepted.status_code == 200
    assert set(files_of(owner, f"{exp}/resources/FS")) == set(ZIP_FILES)


@pytest.mark.parametrize(
    ("path", "content_type", "stored"),
    [
        ("", "application/octet-stream", "upload"),
        ("", "application/zip", "upload.zip"),
        ("/sub/dir/x.txt", "text/plain", "sub/dir/x.txt"),
    ],
)
def test_stored_names_for_raw_bodies(owner, session_url, path, content_type, stored) -> None:
    exp = session_url()
    response = owner.put(
        f"{exp}/resources/R/files{path}", headers={"Content-Type": content_type}, data=b"xyz"
    )
    assert response.status_code == 200
    assert set(files_of(owner, f"{exp}/resources/R")) == {stored}


def test_multipart_upload_any_field_name(owner, session_url, make_zip) -> None:
    exp = session_url()
    response = owner.post(
        f"{exp}/resources/FS/files",
        params={"extract": "true"},
        files={"whatever": ("mr_1.zip", make_zip(ZIP_FILES), "application/zip")},
        data={"note": "a form field"},
    )
    assert response.status_code == 200
    assert set(files_of(owner, f"{exp}/resources/FS")) == set(ZIP_FILES)
    plain = owner.post(
        f"{exp}/resources/FS/files", files={"f": ("dir/notes.txt", b"hello", "text/plain")}
    )
    assert plain.status_code == 200
    assert files_of(owner, f"{exp}/resources/FS")["notes.txt"]["Size"] == "5"
    named = owner.put(f"{exp}/resources/FS/files/x/y.txt", files={"f": ("ignored.txt", b"12")})
    assert named.status_code == 200
    assert "x/y.txt" in files_of(owner, f"{exp}/resources/FS")


@pytest.mark.parametrize(
    "entry",
    ["../evil.txt", "/etc/evil", "a/../../evil", "C:/evil.txt", "a\\..\\..\\evil", "a/../.."],
)
def test_zip_slip_is_refused_and_nothing_written(xnat, owner, session_url, entry: str) -> None:
    exp = session_url()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("subj01/good.txt", b"good")
        zf.writestr(zipfile.ZipInfo(entry), b"evil")
    response = owner.put(
        f"{exp}/resources/FS/files/x.zip",
        params={"extract": "true", "inbody": "true"},
        data=buffer.getvalue(),
    )
    assert response.status_code == 400
    assert owner.get(f"{exp}/resources?format=json").json()["ResultSet"]["Result"] == []
    written = [p for p in (xnat.root / "P1").rglob("*") if p.is_file()]
    assert written == []
    assert not list(xnat.root.parent.rglob("evil*"))


@pytest.mark.parametrize("label", ["..%2F..%2F..%2F..%2F..%2Fvictim", "%2E%2E", "a%5C..%5Cb"])
def test_resource_label_cannot_leave_the_archive(xnat, owner, session_url, label: str) -> None:
    exp = session_url()
    victim = xnat.root.parent / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    created = owner.put(f"{exp}/resources/{label}")
    assert created.status_code == 400
    uploaded = owner.put(
        f"{exp}/resources/{label}/files/x.txt", params={"inbody": "true"}, data=b"x"
    )
    assert uploaded.status_code == 400
    owner.delete(f"{exp}/resources/{label}")
    assert (victim / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


def test_tar_and_gz_extraction(owner, session_url) -> None:
    exp = session_url()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in ZIP_FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    params = {"extract": "true", "inbody": "true"}
    assert owner.put(f"{exp}/resources/T/files/a.tar.gz", params=params, data=buffer.getvalue()).ok
    assert set(files_of(owner, f"{exp}/resources/T")) == set(ZIP_FILES)
    import gzip

    gz = gzip.compress(b"plain text")
    assert owner.put(f"{exp}/resources/G/files/notes.txt.gz", params=params, data=gz).ok
    assert files_of(owner, f"{exp}/resources/G")["notes.txt"]["Size"] == "10"
    upper = owner.put(f"{exp}/resources/U/files/A.ZIP", params=params, data=b"PK not really")
    assert upper.ok
    assert set(files_of(owner, f"{exp}/resources/U")) == {"A.ZIP"}


def test_file_download_listing_and_delete(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    params = {"extract": "true", "inbody": "true"}
    owner.put(f"{exp}/resources/FS/files/a.zip", params=params, data=make_zip(ZIP_FILES))
    download = owner.get(f"{exp}/resources/FS/files/subj01/mri/aseg.mgz")
    assert download.content == ZIP_FILES["subj01/mri/aseg.mgz"]
    assert owner.get(f"{exp}/resources/FS/files/subj01/nope").status_code == 404
    sub = owner.get(f"{exp}/resources/FS/files/subj01/mri/", params={"format": "json"}).json()
    assert [r["Name"] for r in sub["ResultSet"]["Result"]] == ["aseg.mgz"]
    assert owner.get(f"{exp}/resources/NOPE/files?format=json").json()["ResultSet"]["Result"] == []
    assert owner.delete(f"{exp}/resources/FS/files/subj01/stats").status_code == 200
    assert set(files_of(owner, f"{exp}/resources/FS")) == {"subj01/mri/aseg.mgz"}
    assert not (resource_dir(xnat) / "subj01" / "stats" / "aseg.stats").exists()
    nomatch = owner.delete(f"{exp}/resources/FS/files/subj01/stats")
    assert (nomatch.status_code, h3(nomatch)) == (404, "No matched files")
    unknown = owner.delete(f"{exp}/resources/NOPE/files/x")
    assert (unknown.status_code, h3(unknown)) == (
        400,
        "Unable to determine resource, parent, or security.",
    )
    row = owner.get(f"{exp}/resources?format=json").json()["ResultSet"]["Result"][0]
    assert row["file_count"] == "1"
    assert owner.delete(f"{exp}/resources/FS", params={"removeFiles": "false"}).status_code == 200
    assert not resource_dir(xnat).exists()
    assert owner.delete(f"{exp}/resources/FS").status_code == 200
    assert owner.get(f"{exp}/resources?format=json").json()["ResultSet"]["Result"] == []


def test_routes_under_experiments_and_archive(xnat, owner, session_url, make_zip) -> None:
    session_url()
    params = {"extract": "true", "inbody": "true"}
    for base in (
        f"{xnat.url}/data/experiments/XNAT_E00001",
        f"{xnat.url}/data/archive/projects/P1/subjects/subj01/experiments/subj01_MR1",
        f"{xnat.url}/data/projects/P1/subjects/XNAT_S00001/experiments/XNAT_E00001",
        f"{xnat.url}/data/archive/experiments/XNAT_E00001",
    ):
        label = f"R{abs(hash(base)) % 1000}"
        assert owner.put(f"{base}/resources/{label}").status_code == 200, base
        assert owner.put(
            f"{base}/resources/{label}/files/a.zip", params=params, data=make_zip(ZIP_FILES)
        ).ok
        assert set(files_of(owner, f"{base}/resources/{label}")) == set(ZIP_FILES)


def test_read_only_member(xnat, owner, reader, session_url, make_zip) -> None:
    exp = session_url()
    owner.put(f"{exp}/resources/FS")
    assert reader.get(f"{xnat.url}/data/projects?format=json").json()["ResultSet"]["Result"]
    upload = reader.put(
        f"{exp}/resources/FS/files/a.zip",
        params={"extract": "true", "inbody": "true"},
        data=make_zip(ZIP_FILES),
    )
    assert (upload.status_code, upload.content) == (200, b"")
    assert files_of(owner, f"{exp}/resources/FS") == {}
    refused = reader.put(f"{exp}/resources/OTHER")
    assert (refused.status_code, h3(refused)) == (
        403,
        "User account doesn't have permission to modify this session.",
    )
    assert reader.delete(f"{exp}/resources/FS").status_code == 403
    assert reader.delete(f"{xnat.url}/data/projects/P1").status_code == 403
    assert reader.get(f"{exp}/resources/FS/files?format=json").status_code == 200


def test_restart_keeps_everything(tmp_path: Path, make_zip) -> None:
    users = {"u": "p"}
    with serve(tmp_path, users=users) as url, requests.Session() as s:
        s.auth = ("u", "p")
        exp = f"{url}/data/projects/P1/subjects/s1/experiments/E1"
        s.put(f"{url}/data/projects/P1")
        s.put(exp, params={"xsiType": "xnat:mrSessionData"})
        s.put(
            f"{exp}/resources/FS/files/a.zip",
            params={"extract": "1", "inbody": "1"},
            data=make_zip(ZIP_FILES),
        )
        before = files_of(s, f"{exp}/resources/FS")
    with serve(tmp_path, users=users) as url, requests.Session() as s:
        s.auth = ("u", "p")
        exp = f"{url}/data/projects/P1/subjects/s1/experiments/E1"
        assert files_of(s, f"{exp}/resources/FS") == before
        assert s.get(f"{exp}/resources/FS/files/subj01/stats/aseg.stats").content == b"stats\n"
        assert s.put(f"{url}/data/projects/P1/subjects/s2").text == "XNAT_S00002"
        assert s.put(exp).text == "XNAT_E00001"


def test_multipart_part_without_file_name_is_refused(owner, session_url) -> None:
    exp = session_url()
    response = owner.put(f"{exp}/resources/FS/files", files={"f": ("", b"data")})
    assert response.status_code == 400
    assert files_of(owner, f"{exp}/resources/FS") == {}
