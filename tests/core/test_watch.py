"""The watch loop: a folder is imported once it has finished and settled, never twice."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fsxnat_gui.core.model import ResultStatus, Subject, SubjectResult
from fsxnat_gui.core.watch import Watcher, WatchEvent, WatchKind, WatchState, state_path, watch
from fsxnat_gui.samples import finish_subject, make_subject


class Importer:
    """Records what it was asked to import; answers each folder as verified (or failed)."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail or set()

    def __call__(self, subjects: list[Subject]) -> Iterable[object]:
        self.calls.append([s.name for s in subjects])
        for s in subjects:
            if s.name in self.fail:
                yield SubjectResult(s.name, ResultStatus.FAILED, False, error="server said no")
            else:
                yield SubjectResult(s.name, ResultStatus.IMPORTED, True, detail="imported")


def kinds(events: list[object], folder: str) -> list[WatchKind]:
    return [e.kind for e in events if isinstance(e, WatchEvent) and e.folder == folder]


def test_a_folder_is_imported_after_it_finishes_and_settles(tmp_path: Path) -> None:
    sd = tmp_path / "sd"
    make_subject(sd, "done1")
    running = make_subject(sd, "later", variant="running")
    make_subject(sd, "broken", variant="failed")
    state = WatchState(tmp_path / "state.json")
    importer = Importer()
    w = Watcher(sd, state, settle=5.0, retry_after=600)
    ready, events = w.poll(now=100.0)
    assert ready == []  # first sight: wait for it to settle
    assert kinds(events, "done1") == [WatchKind.WAITING]
    ready, _ = w.poll(now=106.0)
    assert [s.name for s in ready] == ["done1"]
    for result in importer(ready):
        assert isinstance(result, SubjectResult)
        assert w.finished(ready[0], result, 106.0).kind is WatchKind.DONE
    finish_subject(running)
    ready, _ = w.poll(now=107.0)
    assert ready == []  # done1 is recorded; 'later' just finished
    ready, _ = w.poll(now=113.0)
    assert [s.name for s in ready] == ["later"]


def test_a_restart_imports_nothing_twice(tmp_path: Path) -> None:
    sd = tmp_path / "sd"
    make_subject(sd, "s1")
    path = tmp_path / "state.json"
    importer = Importer()
    events = list(watch(sd, importer, WatchState(path), threading.Event(), once=True))
    assert importer.calls == [["s1"]]
    assert kinds(events, "s1") == [WatchKind.READY, WatchKind.DONE]
    importer = Importer()  # the restart
    events = list(watch(sd, importer, WatchState(path), threading.Event(), once=True))
    assert importer.calls == []
    assert kinds(events, "s1") == [WatchKind.ALREADY]
    (sd / "s1" / "stats" / "aseg.stats").write_text("edited\n")  # changed: imported again
    events = list(watch(sd, importer, WatchState(path), threading.Event(), once=True))
    assert importer.calls == [["s1"]]


def test_a_failure_is_retried_later_not_at_every_poll(tmp_path: Path) -> None:
    sd = tmp_path / "sd"
    make_subject(sd, "s1")
    importer = Importer(fail={"s1"})
    w = Watcher(sd, WatchState(tmp_path / "state.json"), settle=0.0, retry_after=60)
    ready, _ = w.poll(now=0.0)
    event = w.finished(ready[0], next(iter(importer(ready))), 0.0)  # type: ignore[arg-type]
    assert event.kind is WatchKind.FAILED
    assert "server said no" in event.message
    assert w.poll(now=30.0)[0] == []
    assert [s.name for s in w.poll(now=61.0)[0]] == ["s1"]


def test_cancel_stops_the_loop_at_once(tmp_path: Path) -> None:
    sd = tmp_path / "sd"
    sd.mkdir()
    cancel = threading.Event()
    events = watch(sd, Importer(), WatchState(tmp_path / "s.json"), cancel, interval=3600)
    assert next(events).kind is WatchKind.WATCHING  # type: ignore[attr-defined]
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    rest = list(events)  # would wait an hour without the cancel
    assert rest[-1].kind is WatchKind.STOPPED  # type: ignore[attr-defined]


def test_state_files_are_per_folder_and_target(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    a = state_path(tmp_path / "sd", "https://x|P|FREESURFER7")
    assert a.parent == tmp_path / "fsxnat"
    assert a != state_path(tmp_path / "sd", "https://x|Q|FREESURFER7")
    assert a != state_path(tmp_path / "other", "https://x|P|FREESURFER7")


def test_a_batch_is_imported_as_fsxnat_import_would_with_its_rows_of_the_map(
    xnat: Any, tmp_path: Path
) -> None:
    from fsxnat_gui.core import scan
    from fsxnat_gui.core.model import Target
    from fsxnat_gui.core.watch import BatchImport
    from fsxnat_gui.core.xnat import XnatClient

    sd = tmp_path / "sd"
    make_subject(sd, "s1")
    mapping = tmp_path / "map.csv"  # rows for folders not in this batch, even not there yet
    mapping.write_text(
        "folder,subject,experiment,resource\ns1,renamed,renamed_MR1,\nlater,x,x_MR1,\n"
    )
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        batch = BatchImport(
            client, Target("B", create_project=True), threading.Event(), mapping=mapping
        )
        events = list(batch([scan.classify(sd / "s1")]))
        results = [e for e in events if isinstance(e, SubjectResult)]
        assert [(r.subject, r.on_server, r.experiment) for r in results] == [
            ("s1", True, "renamed_MR1")
        ]
        assert list(client.list_experiments("B")) == ["renamed_MR1"]
        # a batch that cannot be planned fails each folder with the reason; nothing raised
        offline = BatchImport(client, Target("NOPE"), threading.Event())
        [failed] = [e for e in offline([scan.classify(sd / "s1")]) if isinstance(e, SubjectResult)]
        assert failed.status is ResultStatus.FAILED
        assert failed.error
