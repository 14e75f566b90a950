"""Property-based tests of the annotation readers (COCO JSON, text lines and tables): whatever the file holds, the
outcome is either the right dataset (every sentence or annotation read once, with its label and its real line) or
one CnnlabError whose single line names the file (and the line or id at fault)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils

from cnnlab.data import build_data
from cnnlab.data.bad_samples import BadSamples
from cnnlab.data.coco_detection import CocoDetectionDataset
from cnnlab.data.coco_schema import load_instances, rle_string_counts
from cnnlab.data.coco_semantic import rasterise
from cnnlab.data.text.readers import read_class_files, read_prefixed, read_table
from cnnlab.data.transforms import build_detection_transforms
from cnnlab.errors import CnnlabError

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE_END = re.compile(r"\r\n|\r|\n")
SPACE = " \t\n\r\x0b\x0c"
# Letters, separators, quotes, and what str.splitlines() would wrongly break on: U+0085 (cp1252's ellipsis read as
# Latin-1), U+2028, \x0b, \x0c, \x1c.
CHARACTERS = "abcxyz ,;'\".!?\t-é€\x85\u2028\x0b\x0c\x1c"
ENCODINGS = ["utf-8", "iso-8859-1", "cp1252"]
ENDINGS = ["\n", "\r\n", "\r"]
BOM = b"\xef\xbb\xbf"


def one_line_naming(error: CnnlabError, path: Path) -> str:
    message = str(error)
    assert str(path) in message and "\n" not in message, message
    return message


def fresh(factory) -> Path:
    return factory.mktemp("fuzz")


# ---- text ------------------------------------------------------------------------------------------------------


def encodable(encoding: str) -> str:
    return "".join(c for c in CHARACTERS if _encodes(c, encoding))


def _encodes(character: str, encoding: str) -> bool:
    try:
        character.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def text_file_layout(draw, line_breaks_in_text: bool = False):
    """(encoding, line ending, BOM?, [(label, text) or None for a blank line])."""
    encoding = draw(st.sampled_from(ENCODINGS))
    alphabet = encodable(encoding) + ("\n\r" if line_breaks_in_text else "")
    texts = st.text(alphabet, min_size=1, max_size=12).map(lambda t: t.strip(SPACE)).filter(bool)
    sentence = st.tuples(st.sampled_from(["pos", "neg", "mid"]), texts)
    blank = st.sampled_from(["", "   "])
    lines = draw(st.lists(st.one_of(sentence, sentence, blank), min_size=1, max_size=10))
    return encoding, draw(st.sampled_from(ENDINGS)), draw(st.booleans()), lines


def write_lines(path: Path, lines: list[str], encoding: str, ending: str, bom: bool) -> None:
    path.write_bytes((BOM if bom else b"") + "".join(line + ending for line in lines).encode(encoding))


def expected_lines(path: Path, lines: list) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(text, label, where) of each sentence and the blank-line records, for lines as text_file_layout draws them."""
    sentences = [(e[1], e[0], f"{path}:{n}") for n, e in enumerate(lines, 1) if isinstance(e, tuple)]
    return sentences, [f"{path}:{n}: blank line" for n, e in enumerate(lines, 1) if isinstance(e, str)]


def as_tuples(sentences) -> list[tuple[str, str, str]]:
    return [(s.text, s.label, s.where) for s in sentences]


@FUZZ
@given(layout=text_file_layout(), label_only=st.integers(0, 12))
def test_prefixed_lines_are_read_once_at_their_real_line(tmp_path_factory, layout, label_only: int) -> None:
    encoding, ending, bom, lines = layout
    path = fresh(tmp_path_factory) / "train.txt"
    broken = label_only < len(lines)  # a line holding a label and no sentence
    if broken:
        lines = [*lines[:label_only], "pos", *lines[label_only + 1 :]]
    write_lines(path, [e if isinstance(e, str) else f"{e[0]} {e[1]}" for e in lines], encoding, ending, bom)
    skipped: list[str] = []
    if broken:
        with pytest.raises(CnnlabError) as caught:
            read_prefixed(path, encoding=encoding, skipped=skipped.append)
        assert f"{path}:{label_only + 1}: label 'pos' has no sentence" in one_line_naming(caught.value, path)
        return
    sentences, blank = expected_lines(path, lines)
    assert as_tuples(read_prefixed(path, encoding=encoding, skipped=skipped.append)) == sentences
    assert skipped == blank


@FUZZ
@given(neg=text_file_layout(), pos=text_file_layout())
def test_one_file_per_class_reads_every_line_once(tmp_path_factory, neg, pos) -> None:
    folder = fresh(tmp_path_factory)
    files, expected = {}, []
    encoding = neg[0]  # one data.encoding for both files
    for label, (_, ending, bom, lines) in (("neg", neg), ("pos", pos)):
        lines = [e if isinstance(e, str) else e[1] for e in lines]
        lines = [line for line in lines if _all_encode(line, encoding)]
        files[label] = folder / f"{label}.txt"
        write_lines(files[label], lines, encoding, ending, bom)
        expected += [(line, label, f"{files[label]}:{n}") for n, line in enumerate(lines, 1) if line.strip(SPACE)]
    read = read_class_files({k: str(v) for k, v in files.items()}, encoding=encoding, skipped=lambda _: None)
    assert as_tuples(read) == expected


def _all_encode(text: str, encoding: str) -> bool:
    return all(_encodes(c, encoding) for c in text)


@st.composite
def table_case(draw):
    """A table file's layout plus at most one broken row: (suffix, layout, broken row index, how it is broken)."""
    suffix = draw(st.sampled_from([".csv", ".tsv", ".jsonl"]))
    layout = draw(text_file_layout(line_breaks_in_text=suffix != ".jsonl"))
    damage = draw(st.sampled_from([None, None, "missing_field", "extra_field", "empty_label"]))
    return suffix, layout, draw(st.integers(0, 10)), damage


def render_table(suffix: str, lines: list, ending: str, broken: int, damage: str | None) -> tuple[str, list, int]:
    """The file's text, the sentences' (text, label, first line) and the line of the damaged row (0: none)."""
    if suffix == ".jsonl":
        return _render_jsonl(lines, ending, broken, damage)
    delimiter = "\t" if suffix == ".tsv" else ","
    out, rows, number, damaged_line = [f"text{delimiter}label{ending}"], [], 2, 0
    for index, entry in enumerate(lines):
        if isinstance(entry, str):
            out.append(entry + ending)
            number += 1
            continue
        label, text = entry
        record = _csv_record([text, label], delimiter)
        if index == broken and damage:
            damaged_line = number
            record = {"missing_field": _csv_record([text], delimiter), "extra_field": f"{record}{delimiter}more",
                      "empty_label": _csv_record([text, ""], delimiter)}[damage]  # fmt: skip
            assume(damage != "missing_field" or _csv_record([text], delimiter).strip(SPACE))  # else a blank line
        else:
            rows.append((text, label, number))
        out.append(record + ending)
        number += 1 + len(LINE_END.findall(record))
    return "".join(out), rows, damaged_line


def _csv_record(fields: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(fields)  # quotes fields holding \r or \n
    return buffer.getvalue().removesuffix("\r\n")


def _render_jsonl(lines: list, ending: str, broken: int, damage: str | None) -> tuple[str, list, int]:
    out, rows, damaged_line = [], [], 0
    for number, entry in enumerate(lines, 1):
        if isinstance(entry, str):
            out.append(entry + ending)
            continue
        row = {"text": entry[1], "label": entry[0]}
        if number - 1 == broken and damage:
            damaged_line = number
            row = {"missing_field": {"text": entry[1]}, "extra_field": {**row, "more": 1},
                   "empty_label": {**row, "label": None}}[damage]  # fmt: skip
            if damage == "extra_field":  # an extra key in JSON is harmless
                rows.append((entry[1], entry[0], number))
                damaged_line = 0
        else:
            rows.append((entry[1], entry[0], number))
        out.append(json.dumps(row, ensure_ascii=False) + ending)
    return "".join(out), rows, damaged_line


@FUZZ
@given(case=table_case())
def test_tables_read_every_row_once_or_name_the_broken_line(tmp_path_factory, case) -> None:
    suffix, (encoding, ending, bom, lines), broken, damage = case
    path = fresh(tmp_path_factory) / f"train{suffix}"
    text, rows, damaged_line = render_table(suffix, lines, ending, broken, damage)
    path.write_bytes((BOM if bom else b"") + text.encode(encoding))
    read = lambda: read_table(path, encoding=encoding, text_column="text", label_column="label")  # noqa: E731
    if damaged_line:
        with pytest.raises(CnnlabError) as caught:
            read()
        assert f"{path}:{damaged_line}: " in one_line_naming(caught.value, path)
        return
    assert as_tuples(read()) == [(t, label, f"{path}:{n}") for t, label, n in rows]


@FUZZ
@given(layout=text_file_layout(), at=st.integers(0, 10))
def test_a_latin1_file_read_as_utf8_names_its_first_bad_line(tmp_path_factory, layout, at: int) -> None:
    _, ending, bom, lines = layout
    lines = [e if isinstance(e, str) else f"{e[0]} {e[1]}" for e in lines]
    lines = [line for line in lines if _all_encode(line, "iso-8859-1")]
    lines.insert(min(at, len(lines)), "pos café au lait")
    path = fresh(tmp_path_factory) / "train.txt"
    write_lines(path, lines, "iso-8859-1", ending, bom)
    first_bad = next(n for n, line in enumerate(lines, 1) if not _decodes(line.encode("iso-8859-1")))
    with pytest.raises(CnnlabError) as caught:
        read_prefixed(path, encoding="utf-8")
    assert f"{path}:{first_bad}: not valid utf-8" in one_line_naming(caught.value, path)


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=10, deadline=None)
@given(layout=text_file_layout(line_breaks_in_text=True), seed=st.integers(0, 3))
def test_text_csv_data_module_holds_every_sentence_once(tmp_path_factory, layout, seed: int) -> None:
    encoding, ending, bom, lines = layout
    path = fresh(tmp_path_factory) / "train.csv"
    text, rows, _ = render_table(".csv", lines * 3, ending, -1, None)
    path.write_bytes((BOM if bom else b"") + text.encode(encoding))
    settings_ = {"name": "text_csv", "train": str(path), "encoding": encoding, "batch_size": 1, "num_workers": 0,
                 "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": seed}  # fmt: skip
    try:
        data = build_data(settings_)
        data.setup()
    except CnnlabError as error:  # a split too small for the fractions: named, with the file
        one_line_naming(error, path)
        return
    read = [s for split in ("train", "val", "test") for s in getattr(data.splits, split).sentences]
    assert sorted(as_tuples(read)) == sorted((t, label, f"{path}:{n}") for t, label, n in rows)
    assert data.splits.class_names == sorted({label for _, label, _ in rows})


# ---- COCO ------------------------------------------------------------------------------------------------------

EVAL = build_detection_transforms(augment=None, normalize={"mean": [0.0] * 3, "std": [1.0] * 3}, image_size=None,
                                  train=False)  # fmt: skip


@st.composite
def coco_content(draw, min_annotations: int = 0):
    """A valid COCO instances object: a few small images, categories, and rectangles given as box and polygon."""
    image_ids = draw(st.lists(st.integers(1, 500), min_size=1, max_size=3, unique=True))
    images = [{"id": i, "file_name": f"{i}.png", "width": draw(st.integers(4, 16)), "height": draw(st.integers(4, 16))}
              for i in image_ids]  # fmt: skip
    category_ids = draw(st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True))
    names = draw(st.permutations(["cat", "dog", "bird é", "3"]))[: len(category_ids)]
    categories = [{"id": c, "name": n} for c, n in zip(category_ids, names, strict=True)]
    count = draw(st.integers(min_annotations, 5))
    annotation_ids = draw(st.lists(st.integers(1, 10_000), min_size=count, max_size=count, unique=True))
    annotations = [draw(rectangle(a, draw(st.sampled_from(images)), draw(st.sampled_from(category_ids))))
                   for a in annotation_ids]  # fmt: skip
    return {"info": {}, "images": images, "annotations": annotations, "categories": categories}


@st.composite
def rectangle(draw, ann_id: int, image: dict, category: int) -> dict:
    """An annotation whose box and polygon are the same rectangle, at least 2 px inside the image (it may spill)."""
    width, height = image["width"], image["height"]
    x0, y0 = draw(st.integers(-3, width - 2)), draw(st.integers(-3, height - 2))
    x1, y1 = draw(st.integers(max(x0, 0) + 2, width + 3)), draw(st.integers(max(y0, 0) + 2, height + 3))
    polygon = [x0, y0, x1, y0, x1, y1, x0, y1]
    return {"id": ann_id, "image_id": image["id"], "category_id": category, "bbox": [x0, y0, x1 - x0, y1 - y0],
            "segmentation": [polygon], "area": float((x1 - x0) * (y1 - y0)), "iscrowd": 0}  # fmt: skip


def write_coco(folder: Path, content: dict) -> Path:
    """The JSON and a black PNG of each image at the size the JSON gives."""
    (folder / "images").mkdir(exist_ok=True)
    for image in content["images"]:
        pixels = np.zeros((image["height"], image["width"], 3), np.uint8)
        Image.fromarray(pixels).save(folder / "images" / image["file_name"])
    path = folder / "instances.json"
    path.write_text(json.dumps(content))
    return path


def load(path: Path, policy: str = "fail"):
    return load_instances(path, BadSamples(policy), boxes=True, masks=True)


@FUZZ
@given(content=coco_content())
def test_a_valid_coco_file_gives_every_annotation_once_with_its_label(tmp_path_factory, content: dict) -> None:
    folder = fresh(tmp_path_factory)
    path = write_coco(folder, content)
    coco = load(path)
    assert sorted(coco.anns) == sorted(a["id"] for a in content["annotations"])
    labels = {c: i + 1 for i, c in enumerate(sorted(c["id"] for c in content["categories"]))}
    dataset = CocoDetectionDataset(coco, sorted(coco.imgs), labels=labels, images=folder / "images", transform=EVAL,
                                   with_masks=False, source=path)  # fmt: skip
    for index, image_id in enumerate(dataset.image_ids):
        _, target = dataset[index]
        mine = [a for a in content["annotations"] if a["image_id"] == image_id]
        info = coco.imgs[image_id]
        boxes = [[min(max(v, 0), info[k]) for v, k in zip(_xyxy(a), ("width", "height") * 2, strict=True)]
                 for a in mine]  # fmt: skip
        read = sorted((label, np.round(box, 3).tolist()) for label, box in zip(target["labels"].tolist(),
                      target["boxes"].tolist(), strict=True))  # fmt: skip
        assert read == sorted(
            (labels[a["category_id"]], np.round(b, 3).tolist()) for a, b in zip(mine, boxes, strict=True)
        )


def _xyxy(annotation: dict) -> list[float]:
    x, y, w, h = annotation["bbox"]
    return [float(x), float(y), float(x + w), float(y + h)]


@FUZZ
@given(content=coco_content())
def test_semantic_masks_give_each_rectangle_its_class(tmp_path_factory, content: dict) -> None:
    coco = load(write_coco(fresh(tmp_path_factory), content))
    labels = {c: i + 1 for i, c in enumerate(sorted(c["id"] for c in content["categories"]))}
    for image in content["images"]:
        mask = rasterise(coco, image["id"], labels, 255)
        assert mask.shape == (image["height"], image["width"])
        mine = [a for a in content["annotations"] if a["image_id"] == image["id"]]
        regions = [_region(a, image) for a in mine]
        for annotation, region in zip(mine, regions, strict=True):
            alone = region & ~np.any([r for r in regions if r is not region] or [np.zeros_like(region)], axis=0)
            assert (mask[alone] == labels[annotation["category_id"]]).all()
        assert (mask[~np.any(regions or [np.zeros(mask.shape, bool)], axis=0)] == 0).all()


def _region(annotation: dict, image: dict) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in _xyxy(annotation))
    region = np.zeros((image["height"], image["width"]), bool)
    region[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return region


# How each damage is expected to surface: "file" (an error under any policy), "annotation" / "image" (an error
# naming it, or skipped under data.on_bad_sample=skip), "read" (an error when the image is read).
DAMAGE = {
    "bbox_text": ("annotation", lambda c, a, i: a.update(bbox="1,2,3,4")),
    "bbox_three_numbers": ("annotation", lambda c, a, i: a.update(bbox=a["bbox"][:3])),
    "bbox_missing": ("annotation", lambda c, a, i: a.pop("bbox")),
    "bbox_nan": ("annotation", lambda c, a, i: a["bbox"].__setitem__(0, float("nan"))),
    "bbox_zero_width": ("annotation", lambda c, a, i: a["bbox"].__setitem__(2, 0)),
    "polygon_two_points": ("annotation", lambda c, a, i: a.update(segmentation=[a["segmentation"][0][:4]])),
    "polygon_odd": ("annotation", lambda c, a, i: a.update(segmentation=[a["segmentation"][0][:7]])),
    "unknown_category": ("annotation", lambda c, a, i: a.update(category_id=1000)),
    "unknown_image": ("annotation", lambda c, a, i: a.update(image_id=1000)),
    "image_id_as_text": ("annotation", lambda c, a, i: a.update(image_id=str(a["image_id"]))),
    "image_width_as_text": ("image", lambda c, a, i: i.update(width=str(i["width"]))),
    "image_without_file_name": ("image", lambda c, a, i: i.pop("file_name")),
    "image_size_disagrees": ("read", lambda c, a, i: i.update(width=i["width"] + 1)),
    "duplicate_annotation_id": ("file", lambda c, a, i: c["annotations"].append({**a})),
    "duplicate_image_id": ("file", lambda c, a, i: c["images"].append({**i, "file_name": "other.png"})),
    "duplicate_category_id": ("file", lambda c, a, i: c["categories"].append({**c["categories"][0], "name": "z"})),
    "duplicate_category_name": ("file", lambda c, a, i: c["categories"].append({**c["categories"][0], "id": 1000})),
    "categories_missing": ("file", lambda c, a, i: c.pop("categories")),
    "images_not_a_list": ("file", lambda c, a, i: c.update(images={"1": i})),
}


@FUZZ
@given(
    content=coco_content(min_annotations=1),
    damage=st.sampled_from([*DAMAGE, "top_level_list", "not_json"]),
    skip=st.booleans(),
)
def test_a_damaged_coco_file_is_one_error_or_skips_only_the_damage(tmp_path_factory, content, damage, skip) -> None:
    original = copy.deepcopy(content)
    annotation = content["annotations"][0]
    image = next(i for i in content["images"] if i["id"] == annotation["image_id"])
    folder = fresh(tmp_path_factory)
    path = write_coco(folder, original)  # the image files keep the sizes the undamaged JSON gives
    if damage in DAMAGE:
        kind, change = DAMAGE[damage]
        change(content, annotation, image)
        path.write_text(json.dumps(content))
    else:
        kind = "file"
        path.write_text(json.dumps([content]) if damage == "top_level_list" else "{'a'")
    policy = "skip" if skip else "fail"
    if kind == "file" or (kind in ("annotation", "image") and not skip):
        with pytest.raises(CnnlabError) as caught:
            load(path, policy)
        message = one_line_naming(caught.value, path)
        named = {"annotation": f"annotation {annotation['id']} ", "image": f"image {image['id']} "}.get(kind, "")
        assert named in message and ("on_bad_sample=skip" in message) == (kind != "file")
        return
    coco = load(path, policy)
    lost = {"annotation": {annotation["id"]}, "read": set(), "image": {
        a["id"] for a in original["annotations"] if a["image_id"] == image["id"]}}[kind]  # fmt: skip
    assert sorted(coco.anns) == sorted({a["id"] for a in original["annotations"]} - lost)
    assert (image["id"] in coco.imgs) == (kind != "image")
    if kind == "read":
        labels = dict.fromkeys(coco.cats, 1)
        dataset = CocoDetectionDataset(coco, [image["id"]], labels=labels, images=folder / "images", transform=EVAL,
                                       with_masks=False, source=path)  # fmt: skip
        with pytest.raises(CnnlabError) as caught:
            dataset[0]
        message = one_line_naming(caught.value, path)
        size = f"{original_size(original, image['id'])}"
        assert f"{image['id']}.png: the image is {size}" in message and f"gives image {image['id']} as" in message


def original_size(content: dict, image_id: int) -> str:
    image = next(i for i in content["images"] if i["id"] == image_id)
    return f"{image['width']}x{image['height']}"


@FUZZ
@given(data=st.data(), height=st.integers(1, 12), width=st.integers(1, 12))
def test_compressed_rle_counts_match_pycocotools(data, height: int, width: int) -> None:
    pixels = data.draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width))
    region = np.asfortranarray(np.array(pixels, np.uint8).reshape(height, width))
    counts = rle_string_counts(mask_utils.encode(region)["counts"].decode())
    assert sum(counts) == height * width and sum(counts[1::2]) == region.sum()
    noise = data.draw(st.text(alphabet=[chr(c) for c in range(40, 120)], max_size=8))
    decoded = rle_string_counts(noise)  # arbitrary text: counts, or None when it is not an RLE string
    assert decoded is None or all(isinstance(c, int) for c in decoded)


LISTS = ["images", "annotations", "categories"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(content=coco_content(min_annotations=1), where=st.sampled_from(LISTS), data=st.data())
def test_any_value_anywhere_reads_or_is_one_error(tmp_path_factory, content: dict, where: str, data) -> None:
    folder = fresh(tmp_path_factory)
    path = write_coco(folder, content)  # the image files as the undamaged JSON gives them
    entry = data.draw(st.sampled_from(content[where]))
    entry[data.draw(st.sampled_from([*entry, "extra"]))] = data.draw(JSON_VALUES)
    path.write_text(json.dumps(content))
    try:
        coco = load(path)
        labels = {c: i + 1 for i, c in enumerate(sorted(coco.cats))}
        dataset = CocoDetectionDataset(coco, sorted(coco.imgs), labels=labels, images=folder / "images",
                                       transform=EVAL, with_masks=True, source=path)  # fmt: skip
        for index, image_id in enumerate(dataset.image_ids):
            _, target = dataset[index]
            assert len(target["boxes"]) == len(target["masks"]) == len(coco.getAnnIds(imgIds=image_id))
            assert rasterise(coco, image_id, labels, 255).shape == target["masks"].shape[1:]
    except CnnlabError as error:  # the JSON, or an image file when the damage shows only once it is read
        message = str(error)
        assert (str(path) in message or str(folder / "images") in message) and "\n" not in message, message
