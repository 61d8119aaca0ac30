"""The blog recipe with the real, unchanged pyxnat client against the local server."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

pyxnat = pytest.importorskip("pyxnat")

FILES = {
    "subj01/mri/orig.mgz": b"\x00\x01" * 5000,
    "subj01/surf/lh.white": b"white surface" * 100,
    "subj01/stats/aseg.stats": b"# aseg stats\n",
    "subj01/scripts/recon-all.done": b"done\n",
}


def recipe_inputs(xnat, tmp_path: Path) -> tuple[Path, Path]:
    """What the users' recipe starts from: a pyxnat JSON config and `zip -r subj01`."""
    config = tmp_path / "xnat.cfg"
    config.write_text(
        json.dumps({"server": xnat.url, "user": xnat.user, "password": xnat.password})
    )
    archive = tmp_path / "subj01.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in FILES.items():
            zf.writestr(name, data)
    return config, archive


def test_pyxnat_put_zip_extracts_into_resource(xnat, tmp_path: Path) -> None:
    config, archive = recipe_inputs(xnat, tmp_path)

    interface = pyxnat.Interface(config=str(config))
    try:
        project = interface.select.project("MY_PROJECT")
        project.create()
        subject = project.subject("subj01")
        subject.create()
        experiment = subject.experiment("subj01_MR1")
        experiment.create()
        resource = experiment.resource("FREESURFER6")
        resource.put_zip(str(archive), format=None, content=None, tags=None)

        assert interface._entry == "/data"
        assert project.exists()
        assert subject.exists()
        assert experiment.exists()
        assert resource.exists()
        # pyxnat lists files through the `path` column and returns their basenames.
        assert sorted(resource.files().get()) == sorted(Path(n).name for n in FILES)
        assert resource.file("subj01/stats/aseg.stats").get_copy(str(tmp_path / "a.stats"))
        assert (tmp_path / "a.stats").read_bytes() == FILES["subj01/stats/aseg.stats"]
    finally:
        interface.disconnect()

    folder = xnat.root / "MY_PROJECT" / "arc001" / "subj01_MR1" / "RESOURCES" / "FREESURFER6"
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert (folder / "FREESURFER6_catalog.xml").is_file()
    assert not list(folder.rglob("*.zip"))

    requests_seen = [(r.method, r.path, r.query) for r in xnat.faults.requests]
    upload = [r for r in requests_seen if r[0] == "POST"]
    assert len(upload) == 1
    assert "/resources/1/files/" in upload[0][1]
    assert "inbody=true" in upload[0][2]
    assert "extract=true" in upload[0][2]
    assert requests_seen[-1] == ("DELETE", "/data/JSESSION", "")


def test_listed_sizes_and_digests_match(xnat, owner, tmp_path: Path) -> None:
    config, archive = recipe_inputs(xnat, tmp_path)
    interface = pyxnat.Interface(config=str(config))
    try:
        experiment = interface.select.project("P").subject("subj01").experiment("subj01_MR1")
        experiment.create()
        experiment.resource("FREESURFER6").put_zip(str(archive))
    finally:
        interface.disconnect()

    url = f"{xnat.url}/data/projects/P/experiments/subj01_MR1/resources/FREESURFER6/files"
    rows = owner.get(url, params={"format": "json"}).json()["ResultSet"]["Result"]
    listed = {r["URI"].split("/files/", 1)[1]: (r["Size"], r["digest"]) for r in rows}
    assert listed == {
        name: (str(len(data)), hashlib.md5(data).hexdigest()) for name, data in FILES.items()
    }


def test_pyxnat_put_zip_into_subject_resource(xnat, owner, tmp_path: Path) -> None:
    config, archive = recipe_inputs(xnat, tmp_path)
    interface = pyxnat.Interface(config=str(config))
    try:
        project = interface.select.project("P")
        project.create()
        subject = project.subject("subj01")
        subject.create()
        resource = subject.resource("FREESURFER7_BASE")
        resource.put_zip(str(archive))
        assert resource.exists()
        assert sorted(resource.files().get()) == sorted(Path(n).name for n in FILES)
        assert [r.label() for r in subject.resources()] == ["FREESURFER7_BASE"]
    finally:
        interface.disconnect()

    folder = xnat.root / "P" / "subjects" / "subj01" / "FREESURFER7_BASE"
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    url = f"{xnat.url}/data/projects/P/subjects/subj01/resources/FREESURFER7_BASE/files"
    rows = owner.get(url, params={"format": "json"}).json()["ResultSet"]["Result"]
    assert {r["URI"].split("/files/", 1)[1]: r["digest"] for r in rows} == {
        name: hashlib.md5(data).hexdigest() for name, data in FILES.items()
    }
