"""data=imagefolder on generated PNG folders: flat class folders, train/val/test sub-roots, bad layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import build_data
from cnnlab.errors import CnnlabError
from tests.conftest import write_image_folder

FOLDER = {
    "name": "imagefolder", "channels": 3, "image_size": 16, "batch_size": 4, "num_workers": 0,
    "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0,
    "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}, "augment": [{"HorizontalFlip": {"p": 0.5}}],
}  # fmt: skip


def test_flat_folder_is_split_by_seed(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 10, "dog": 10})
    data = build_data({**FOLDER, "root": str(root)})
    facts = data.facts()
    assert facts["num_classes"] == 2 and facts["class_names"] == ["cat", "dog"]
    assert facts["in_channels"] == 3 and facts["image_size"] == (16, 16)
    sizes = [len(data.splits.train), len(data.splits.val), len(data.splits.test)]
    assert sizes == [12, 4, 4]
    paths = [set(s.paths) for s in (data.splits.train, data.splits.val, data.splits.test)]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 16, 16)


def test_sub_roots_are_used_as_given(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"a": 4, "b": 4})
    write_image_folder(tmp_path / "val", {"a": 2, "b": 1})
    write_image_folder(tmp_path / "test", {"b": 3})  # a split may lack a class
    data = build_data({**FOLDER, "root": str(tmp_path)})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [8, 3, 3]
    assert data.splits.test.labels.tolist() == [1, 1, 1]


def test_grayscale_files_are_converted_to_rgb(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path, {"a": 5, "b": 5})
    Image.fromarray(np.full((20, 20), 128, np.uint8), mode="L").save(root / "a" / "gray.png")
    data = build_data({**FOLDER, "root": str(root), "test_fraction": 0.0, "val_fraction": 0.0})
    with pytest.raises(CnnlabError, match="the val split is empty"):
        data.setup()
    data = build_data({**FOLDER, "root": str(root)})
    data.setup()
    everything = [*data.splits.train.paths, *data.splits.val.paths, *data.splits.test.paths]
    gray = [s for s in (data.splits.train, data.splits.val, data.splits.test) if root / "a" / "gray.png" in s.paths][0]
    image, _ = gray[gray.paths.index(root / "a" / "gray.png")]
    assert len(everything) == 11 and image.shape == (3, 16, 16)


def test_missing_root_and_empty_class_are_named(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match="data.root=.*nowhere is not a folder"):
        build_data({**FOLDER, "root": str(tmp_path / "nowhere")}).setup()
    write_image_folder(tmp_path / "x", {"a": 3})
    (tmp_path / "x" / "empty").mkdir()
    with pytest.raises(CnnlabError, match="empty"):
        build_data({**FOLDER, "root": str(tmp_path / "x")}).setup()


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path, {"a": 4, "b": 4})
    (root / "a" / "broken.png").write_bytes(b"not a png")
    data = build_data({**FOLDER, "root": str(root), "augment": []})
    data.setup()
    split = next(
        s for s in (data.splits.train, data.splits.val, data.splits.test) if root / "a" / "broken.png" in s.paths
    )
    with pytest.raises(CnnlabError, match=r"broken.png: cannot read image"):
        split[split.paths.index(root / "a" / "broken.png")]


def all_paths(data) -> list[Path]:
    return [p for split in (data.splits.train, data.splits.val, data.splits.test) for p in split.paths]


def test_hidden_files_and_folders_are_not_data(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 5, "dog": 5})
    write_image_folder(root, {".ipynb_checkpoints": 2})  # a hidden folder is not a class
    write_image_folder(root / "cat", {".thumbs": 2})  # nor are images inside one
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "dog" / ".hidden.png")
    data = build_data({**FOLDER, "root": str(root)})
    assert data.facts()["class_names"] == ["cat", "dog"]
    assert len(all_paths(data)) == 10 and not any(part.startswith(".") for p in all_paths(data) for part in p.parts)


def test_symlink_loop_reads_each_image_once(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", {"dark": 5, "bright": 5})
    (root / "dark" / "loop").symlink_to(".")
    (root / "bright" / "nested").mkdir()
    (root / "bright" / "nested" / "back").symlink_to("..")  # a longer loop
    (root / "dark" / "again.png").symlink_to("0.png")
    data = build_data({**FOLDER, "root": str(root)})
    data.setup()
    real = [p.resolve() for p in all_paths(data)]
    assert len(real) == len(set(real)) == 10


def test_image_linked_into_another_split_is_used_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image_folder(tmp_path / "train", {"a": 4, "b": 4})
    write_image_folder(tmp_path / "val", {"a": 2, "b": 2}, seed=1)
    write_image_folder(tmp_path / "test", {"a": 1, "b": 1}, seed=2)
    (tmp_path / "test" / "a" / "leak.png").symlink_to(tmp_path / "train" / "a" / "0.png")
    data = build_data({**FOLDER, "root": str(tmp_path)})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [8, 4, 2]
    assert "1 file(s) reached again through links were used once" in caplog.text and "leak.png" in caplog.text


def test_broken_link_is_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 5, "dog": 5})
    (root / "cat" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "ghost").symlink_to(tmp_path / "no folder")  # not a class: nothing is there
    data = build_data({**FOLDER, "root": str(root)})
    data.setup()
    assert len(all_paths(data)) == 10 and data.splits.class_names == ["cat", "dog"]
    (warned,) = [r.getMessage() for r in caplog.records if "broken link" in r.getMessage()]
    assert warned.startswith("data.root: skipped 2 broken link(s): ") and "gone.png" in warned and "ghost" in warned


def test_one_image_in_two_classes_is_named(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    (root / "dog" / "cat0.png").symlink_to(root / "cat" / "0.png")
    with pytest.raises(CnnlabError, match=r"dog/cat0.png is the same file as .*cat/0.png .* but in another class"):
        build_data({**FOLDER, "root": str(root)}).setup()


def test_class_only_in_val_or_test_is_an_error(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"a": 4, "b": 4})
    write_image_folder(tmp_path / "val", {"a": 2, "b": 1})
    write_image_folder(tmp_path / "test", {"b": 1, "extra": 3})
    with pytest.raises(CnnlabError, match=r"test/extra: class folder\(s\) that .*train lacks; add training images"):
        build_data({**FOLDER, "root": str(tmp_path)}).setup()


def test_val_and_test_are_labelled_by_class_name(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"ant": 3, "bee": 3, "cow": 3})
    write_image_folder(tmp_path / "val", {"cow": 2})  # the first folder here is train's third class
    write_image_folder(tmp_path / "test", {"bee": 1, "cow": 1})
    data = build_data({**FOLDER, "root": str(tmp_path)})
    data.setup()
    names = data.splits.class_names
    assert [names[i] for i in data.splits.val.labels] == ["cow", "cow"]
    assert [names[i] for i in data.splits.test.labels] == ["bee", "cow"]


def test_missing_test_is_carved_from_train_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image_folder(tmp_path / "train", {"a": 10, "b": 10})
    write_image_folder(tmp_path / "val", {"a": 3, "b": 2}, seed=1)
    data = build_data({**FOLDER, "root": str(tmp_path), "test_fraction": 0.2})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [16, 5, 4]
    warned = [r.getMessage() for r in caplog.records if "no test/" in r.getMessage()]
    assert warned == [
        "data.root has no test/: carved 4 test images from train/ (train 16, val 5, test 4); set data.test_from=val "
        "to test on val/"
    ]


def test_test_from_val_tests_on_val_and_carves_validation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image_folder(tmp_path / "train", {"a": 10, "b": 10})
    write_image_folder(tmp_path / "val", {"a": 3, "b": 2}, seed=1)
    data = build_data({**FOLDER, "root": str(tmp_path), "test_from": "val", "val_fraction": 0.1})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [18, 2, 5]
    assert all(p.parent.parent.name == "val" for p in data.splits.test.paths)
    assert all(p.parent.parent.name == "train" for p in data.splits.val.paths)
    assert "no test/" not in caplog.text
    write_image_folder(tmp_path / "flat", {"a": 3})
    with pytest.raises(CnnlabError, match="data.test_from=val but data.root has no val/"):
        build_data({**FOLDER, "root": str(tmp_path / "flat"), "test_from": "val"}).setup()


def test_animated_and_placeholder_images_get_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 5, "dog": 5})
    frames = [Image.new("L", (8, 8), level) for level in (0, 255)]
    frames[0].save(root / "cat" / "wave.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (1, 1)).save(root / "dog" / "placeholder.gif")
    data = build_data({**FOLDER, "root": str(root)})
    data.setup()
    assert len(all_paths(data)) == 12
    (warned,) = [r.getMessage() for r in caplog.records if "placeholder" in r.getMessage()]
    assert "2 image(s) are animated or tiny placeholders" in warned
    assert "wave.gif (animated)" in warned and "placeholder.gif (1x1)" in warned


def test_awkward_file_names_work(tmp_path: Path) -> None:
    root = tmp_path / "my pets (2024)"
    names = {"cat (old)": ["photo 1.PNG", "Ünïcödé café.JPG", "(2).jpeg"], "hund_ß": ["\ufeffbom.png", "x y.TIF"]}
    for folder, files in names.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            Image.fromarray(np.full((6, 6, 3), 90, np.uint8)).save(root / folder / name)
    data = build_data({**FOLDER, "root": str(root), "batch_size": 1})
    data.setup()
    assert data.splits.class_names == ["cat (old)", "hund_ß"]
    assert sorted(p.name for p in all_paths(data)) == sorted(n for files in names.values() for n in files)
    assert all(data.splits.train[i][0].shape == (3, 16, 16) for i in range(len(data.splits.train)))


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [("val_fraction", 1.5, "data.val_fraction=1.5 is not valid"), ("test_fraction", -0.1, "data.test_fraction=-0.1"),
     ("test_from", "test", "data.test_from=test is not valid"), ("channels", 2, "data.channels=2 is not valid")],
)  # fmt: skip
def test_settings_are_range_checked(tmp_path: Path, setting: str, value, expected: str) -> None:
    with pytest.raises(CnnlabError, match=expected):
        build_data({**FOLDER, "root": str(tmp_path), setting: value})


def test_fractions_that_leave_no_training_data_are_named(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    with pytest.raises(CnnlabError, match=r"data.val_fraction=0.6 \+ data.test_fraction=0.5 leaves nothing to train"):
        build_data({**FOLDER, "root": str(root), "val_fraction": 0.6, "test_fraction": 0.5}).setup()
    write_image_folder(tmp_path / "one", {"cat": 1})
    with pytest.raises(CnnlabError, match=r"data.test_fraction=0.2 takes all 1 remaining training sample"):
        build_data({**FOLDER, "root": str(tmp_path / "one")}).setup()


def test_sub_roots_without_train_or_beside_others_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_image_folder(tmp_path / "val", {"a": 2})
    write_image_folder(tmp_path / "test", {"a": 2})
    with pytest.raises(CnnlabError, match=r"has val/ or test/ but no train/; put the training data in .*/train"):
        build_data({**FOLDER, "root": str(tmp_path)}).setup()  # else "val" and "test" would be the classes
    write_image_folder(tmp_path / "train", {"a": 6})
    write_image_folder(tmp_path / "holdout", {"a": 2})
    build_data({**FOLDER, "root": str(tmp_path), "batch_size": 1}).setup()
    assert "has train/; its other folders are not read: holdout" in caplog.text
