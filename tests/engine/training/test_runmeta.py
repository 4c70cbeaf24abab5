"""meta.json: a run's user metadata, read without ever raising and written atomically under a lock."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.training.runmeta import (
    MAX_TAG,
    MAX_TAGS,
    META_FILE,
    MetaError,
    RunMeta,
    change_tags,
    check_tag,
    meta_from_data,
    parse_tags,
    read_meta,
    update_meta,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def test_a_run_without_meta_json_has_the_defaults(tmp_path: Path) -> None:
    meta = read_meta(tmp_path)
    assert meta == RunMeta()
    assert (meta.display_name, meta.notes, meta.tags, meta.archived, meta.sweep, meta.error) == (
        None,
        "",
        (),
        False,
        None,
        None,
    )
    assert meta.label("20260101-000000-charlm-ab12") == "20260101-000000-charlm-ab12"


def test_update_writes_the_file_and_keeps_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_text(json.dumps({"colour": "teal", "tags": ["old"]}))
    meta = update_meta(tmp_path, display_name="  lr 3e-3  ", notes="two\nlines")
    assert meta.display_name == "lr 3e-3"
    assert meta.tags == ("old",)
    on_disk = json.loads((tmp_path / META_FILE).read_text())
    assert on_disk["colour"] == "teal"
    assert on_disk["display_name"] == "lr 3e-3"
    assert on_disk["notes"] == "two\nlines"
    assert read_meta(tmp_path) == meta
    assert read_meta(tmp_path).extra == {"colour": "teal"}
    assert not list(tmp_path.glob("*.part"))  # no temporary file left behind


def test_an_empty_display_name_clears_it(tmp_path: Path) -> None:
    update_meta(tmp_path, display_name="x")
    assert update_meta(tmp_path, display_name="   ").display_name is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"tags": "baseline"}', "tags"),
        (b'{"tags": ["ok", "bad tag!"]}', "tags"),
        (b'{"archived": "yes"}', "archived"),
        (b'{"display_name": 7}', "display_name"),
        (b'{"notes": null}', "notes"),
        (b'{"sweep": ["a"]}', "sweep"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_a_malformed_file_reads_as_defaults_with_one_sentence(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / META_FILE).write_bytes(content)
    meta = read_meta(tmp_path)
    assert meta.error is not None and words in meta.error
    assert meta.error.endswith(".") and "\n" not in meta.error
    assert (meta.tags, meta.archived, meta.display_name) == ((), False, None) or words == "display_name"


def test_a_bad_field_leaves_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_text(json.dumps({"display_name": "kept", "archived": "yes", "tags": 3}))
    meta = read_meta(tmp_path)
    assert meta.display_name == "kept"
    assert meta.archived is False
    assert meta.error is not None and "(and 1 more)" in meta.error


def test_editing_a_damaged_file_keeps_it_as_bad(tmp_path: Path) -> None:
    (tmp_path / META_FILE).write_bytes(b"{oops")
    meta = update_meta(tmp_path, tags=["fixed"])
    assert meta.tags == ("fixed",) and meta.error is None
    assert (tmp_path / "meta.json.bad").read_bytes() == b"{oops"
    assert read_meta(tmp_path).error is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"tags": ["a b"]}, "holds"),
        ({"tags": ["semi;colon"]}, 'holds ";"'),
        ({"tags": ["x" * (MAX_TAG + 1)]}, f"at most {MAX_TAG}"),
        ({"tags": [""]}, "cannot be empty"),
        ({"tags": "one"}, "list of tags"),
        ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, f"at most {MAX_TAGS} tags"),
        ({"display_name": "bell\x07"}, "control characters"),
        ({"display_name": "two\nlines"}, "control characters"),
        ({"display_name": "\udcff"}, "not valid text"),
        ({"archived": 1}, "true or false"),
        ({"colour": "teal"}, "Unknown metadata field 'colour'"),
    ],
)
def test_bad_values_are_refused_with_one_sentence_before_writing(
    tmp_path: Path, changes: dict[str, object], words: str
) -> None:
    with pytest.raises(MetaError, match=None) as caught:
        update_meta(tmp_path, **changes)
    message = str(caught.value)
    assert words in message and message.endswith(".") and "\n" not in message
    assert not (tmp_path / META_FILE).exists()


def test_a_missing_run_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(MetaError, match="no longer exists"):
        update_meta(tmp_path / "gone", notes="x")


def test_tags_are_parsed_from_a_typed_line_and_deduplicated() -> None:
    assert parse_tags(" baseline, lr:3e-3  baseline,,book ") == ("baseline", "lr:3e-3", "book")
    assert parse_tags("") == ()
    assert check_tag(" ünïcode-ok ") == "ünïcode-ok"


def test_change_tags_adds_and_removes(tmp_path: Path) -> None:
    update_meta(tmp_path, tags=["a", "b"])
    assert change_tags(tmp_path, add=["c", "a"], remove=["b"]).tags == ("a", "c")
    assert change_tags(tmp_path, remove=["absent"]).tags == ("a", "c")


def _tag_many(run_dir: str, prefix: str, count: int) -> None:
    for index in range(count):
        change_tags(run_dir, add=[f"{prefix}{index}"])


def test_concurrent_editors_never_lose_a_change(tmp_path: Path) -> None:
    """Two processes and a thread each add tags; with the lock every one of them lands."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_tag_many, args=(str(tmp_path), prefix, 8)) for prefix in ("p", "q")]
    for process in processes:
        process.start()
    thread = threading.Thread(target=_tag_many, args=(str(tmp_path), "t", 8))
    thread.start()
    thread.join()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sorted(read_meta(tmp_path).tags) == sorted(f"{p}{i}" for p in "pqt" for i in range(8))


@given(json_values)
def test_any_json_reads_without_raising(data: object) -> None:
    meta = meta_from_data(data)
    assert isinstance(meta, RunMeta)
    assert isinstance(meta.tags, tuple) and all(isinstance(tag, str) for tag in meta.tags)
    assert isinstance(meta.archived, bool)
    if isinstance(data, dict):
        assert dict(meta.extra) == {k: v for k, v in data.items() if k not in RunMeta().to_dict()}
    else:
        assert meta.error is not None


@given(st.binary(max_size=200))
def test_any_bytes_read_without_raising(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / META_FILE).write_bytes(content)
    assert isinstance(read_meta(run_dir), RunMeta)


tag_text = st.text(
    alphabet=st.characters(categories=["L", "Nd"]) | st.sampled_from("-_.:+/=@#"), min_size=1, max_size=20
)


@given(
    display_name=st.none() | st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), max_size=40),
    notes=st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"), max_size=80),
    tags=st.lists(tag_text, max_size=6),
    archived=st.booleans(),
    sweep=st.none() | st.text(alphabet=st.characters(categories=["L", "Nd"]), max_size=20),
)
def test_what_is_written_reads_back(
    tmp_path_factory: pytest.TempPathFactory,
    display_name: str | None,
    notes: str,
    tags: list[str],
    archived: bool,
    sweep: str | None,
) -> None:
    run_dir = tmp_path_factory.mktemp("run")
    written = update_meta(run_dir, display_name=display_name, notes=notes, tags=tags, archived=archived, sweep=sweep)
    read = read_meta(run_dir)
    assert read == written and read.error is None
    assert read.tags == tuple(dict.fromkeys(tag.strip() for tag in tags))
    assert read.display_name == ((display_name or "").strip() or None)
