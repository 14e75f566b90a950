"""The structure of a COCO instances JSON, checked before pycocotools indexes it.

A problem with the file as a whole (not JSON, a missing list, duplicate ids, categories without unique names) is an
error; a broken image entry or annotation goes through data.on_bad_sample: it fails the run or, under skip, is
dropped and recorded (an image takes its annotations with it).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data.bad_samples import BadSamples
from cnnlab.errors import CnnlabError

LISTS = ("images", "annotations", "categories")
FORMAT = "a COCO instances file is one JSON object with 'images', 'annotations' and 'categories' lists"


def load_instances(path: Path, bad_samples: BadSamples, *, boxes: bool, masks: bool, setting: str = "data.annotations"):
    """A pycocotools COCO index of the file's usable images and annotations.

    boxes / masks: whether annotations must carry a usable `bbox` / `segmentation` (what the task reads).
    """
    content = read_instances(path, setting)
    check_categories(path, content["categories"])
    images = usable_images(path, content["images"], bad_samples)
    kept = list(usable_annotations(path, content, images, bad_samples, boxes=boxes, masks=masks))
    return _indexed({**content, "images": list(images.values()), "annotations": kept})


def read_instances(path: Path, setting: str = "data.annotations") -> dict[str, Any]:
    """The file's JSON object, with its three lists present and ids unique within each."""
    if not path.is_file():
        raise CnnlabError(f"{setting}={path} does not exist; give a COCO instances JSON")
    try:
        content = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = " ".join(str(err).split())
        raise CnnlabError(f"{path}: not a COCO instances file (not valid JSON: {reason}); fix the JSON") from err
    if not isinstance(content, dict):
        raise CnnlabError(f"{path}: not a COCO instances file (the top level is {_kind(content)}); {FORMAT}")
    for key in LISTS:
        if not isinstance(content.get(key), list):
            found = "is missing" if key not in content else f"is {_kind(content[key])}"
            raise CnnlabError(f"{path}: not a COCO instances file ('{key}' {found}); {FORMAT}")
    for key, kind in (("images", "image"), ("annotations", "annotation")):
        _check_unique_ids(path, content[key], kind)
    return content


def check_categories(path: Path, categories: list) -> dict[int, str]:
    """{category id: name}; every category needs an integer id and a name, both unique (labels travel by name)."""
    names: dict[int, str] = {}
    for index, category in enumerate(categories):
        if not isinstance(category, dict) or not is_int(category.get("id")):
            raise CnnlabError(f"{path}: category #{index} has no integer 'id'; give each category an id and a name")
        ident, name = category["id"], category.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CnnlabError(f"{path}: category {ident} has no 'name'; give each category a name")
        if ident in names:
            raise CnnlabError(f"{path}: category id {ident} appears twice; give each category its own id")
        twin = next((other for other, known in names.items() if known == name), None)
        if twin is not None:
            raise CnnlabError(
                f"{path}: categories {twin} and {ident} are both named '{name}'; class names must be unique "
                "(merge the two or rename one)"
            )
        names[ident] = name
    if not names:
        raise CnnlabError(f"{path}: 'categories' is empty; list the classes there as {{id, name}} objects")
    return names


def usable_images(path: Path, images: list, bad_samples: BadSamples) -> dict[int, dict]:
    """{image id: entry} of the entries with an id, a file name and a positive size; the others go to bad_samples."""
    usable, id_of_file = {}, {}
    for index, image in enumerate(images):
        problem = image_problem(image)
        if problem is None and image["file_name"] in id_of_file:  # one picture would train with two sets of boxes
            problem = f"has the file_name {image['file_name']!r} of image {id_of_file[image['file_name']]}"
        if problem is None:
            usable[image["id"]] = image
            id_of_file[image["file_name"]] = image["id"]
        else:
            bad_samples.handle(CnnlabError(f"{path}: image {_name(image, index)} {problem}"))
    return usable


def image_problem(image: Any) -> str | None:
    """What is wrong with one entry of 'images', as the end of an error message; None when it is usable."""
    if not isinstance(image, dict):
        return f"is {_kind(image)}; give {{id, file_name, width, height}}"
    if not is_int(image.get("id")):
        return "has no integer 'id'; give each image a unique id"
    if not isinstance(image.get("file_name"), str) or not image["file_name"]:
        return "has no 'file_name'; give the image file's path under data.images"
    for key in ("width", "height"):
        if not is_int(image.get(key)) or image[key] <= 0:
            return f"has {key}={image.get(key)!r}; give the image's {key} in pixels"
    return None


def usable_annotations(
    path: Path, content: dict, images: dict[int, dict], bad_samples: BadSamples, *, boxes: bool, masks: bool
) -> Iterator[dict]:
    """The annotations without problems; those of a skipped image leave with it, unreported a second time."""
    categories = {category["id"] for category in content["categories"]}
    dropped = {image["id"] for image in content["images"] if isinstance(image, dict) and is_int(image.get("id"))}
    dropped -= set(images)
    for index, annotation in enumerate(content["annotations"]):
        if isinstance(annotation, dict) and is_int(annotation.get("image_id")) and annotation["image_id"] in dropped:
            continue
        problem = annotation_problem(annotation, images, categories, boxes=boxes, masks=masks)
        if problem is None:
            yield annotation
        else:
            bad_samples.handle(CnnlabError(f"{path}: annotation {_name(annotation, index)} {problem}"))


def annotation_problem(
    annotation: Any, images: dict[int, dict], categories: set[int], *, boxes: bool = True, masks: bool = False
) -> str | None:
    """What is wrong with one COCO annotation, as the end of an error message; None when it is usable."""
    if not isinstance(annotation, dict):
        return f"is {_kind(annotation)}; give an object with id, image_id, category_id and bbox"
    if not is_int(annotation.get("id")):
        return "has no integer 'id'; give each annotation a unique id"
    image_id, category = annotation.get("image_id"), annotation.get("category_id")
    if not is_int(image_id) or image_id not in images:
        return f"refers to image {image_id!r}, which the file does not list"
    if not is_int(category) or category not in categories:
        return f"has unknown category id {category!r}; add it to categories"
    if annotation.get("iscrowd", 0) not in (0, 1):
        return f"has iscrowd={annotation['iscrowd']!r}; use 0 or 1"
    image = images[image_id]
    if boxes and (problem := box_problem(annotation.get("bbox"), image)):
        return problem
    if masks:
        return segmentation_problem(annotation.get("segmentation"), image)
    return None


def box_problem(bbox: Any, image: dict) -> str | None:
    width, height = image["width"], image["height"]
    if bbox is None:
        return "has no 'bbox'; give the box as [x, y, width, height]"
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(is_number(v) for v in bbox):
        return f"has bbox {bbox!r}; give the box as [x, y, width, height], 4 numbers"
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        return f"has a box of size {w}x{h}; boxes need a positive width and height"
    x0, y0, x1, y1 = np.float32(clipped_xyxy(bbox, width, height))  # the precision the detectors train in
    if not (x1 > x0 and y1 > y0):
        return f"box {bbox} lies outside its {width}x{height} image"
    return None


def clipped_xyxy(box: list[float], width: int, height: int) -> list[float]:
    """[x0, y0, x1, y1] of a COCO [x, y, w, h] box, each coordinate clamped into the image."""
    x, y, w, h = box
    return [_clamp(x, width), _clamp(y, height), _clamp(x + w, width), _clamp(y + h, height)]


def _clamp(value: float, limit: int) -> float:
    return float(min(max(value, 0), limit))


def segmentation_problem(segmentation: Any, image: dict) -> str | None:
    if isinstance(segmentation, list):
        return _polygons_problem(segmentation, image["width"], image["height"])
    if isinstance(segmentation, dict):
        return _rle_problem(segmentation, image["width"], image["height"])
    found = "no 'segmentation'" if segmentation is None else f"a segmentation that is {_kind(segmentation)}"
    return f"has {found}; give polygons [[x1, y1, x2, y2, x3, y3, ...]] or an RLE {{counts, size}}"


def _polygons_problem(polygons: list, width: int, height: int) -> str | None:
    if not polygons:
        return "has an empty polygon list; give at least one polygon [x1, y1, x2, y2, x3, y3, ...]"
    for number, polygon in enumerate(polygons):
        if not isinstance(polygon, list) or not all(is_number(v) for v in polygon):
            return f"has polygon {number} that is not a list of numbers; give [x1, y1, x2, y2, x3, y3, ...]"
        if len(polygon) < 6 or len(polygon) % 2:
            return (
                f"has polygon {number} with {len(polygon)} coordinates; a polygon needs at least 3 x,y points "
                "(an even count, 6 or more)"
            )
        # pycocotools rasterises in C with int coordinates: far-off points overflow it, and mean a broken file
        xs, ys = polygon[0::2], polygon[1::2]
        if not all(-width <= x <= 2 * width for x in xs) or not all(-height <= y <= 2 * height for y in ys):
            return f"has polygon {number} with points far outside its {width}x{height} image; fix the coordinates"
    return None


def _rle_problem(rle: dict, width: int, height: int) -> str | None:
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, list) and all(is_int(s) for s in size) and size == [height, width]):
        return f"has an RLE of size {size!r} for a {width}x{height} image; an RLE's size is [height, width]"
    if isinstance(counts, str):
        counts = rle_string_counts(counts)
    elif not (isinstance(counts, list) and all(is_int(c) for c in counts)):
        counts = None
    # pycocotools decodes into a buffer of height*width pixels without checking the counts against it
    if counts is None or any(c < 0 for c in counts) or sum(counts) != width * height:
        return f"has RLE counts that do not cover its {width}x{height} image exactly; fix or re-encode the mask"
    return None


def rle_string_counts(text: str) -> list[int] | None:
    """The run lengths of a compressed COCO RLE string (pycocotools' rleFrString, in Python); None if malformed."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position == len(text) or shift > 30 or not 0 <= ord(text[position]) - 48 < 64:
                return None
            chunk = ord(text[position]) - 48
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            position, shift = position + 1, shift + 5
            if not more and chunk & 0x10:
                value |= -1 << shift
        counts.append(value + (counts[-2] if len(counts) > 2 else 0))
    return counts


def check_image_size(image: np.ndarray, info: dict, path: Path, annotations: Path) -> None:
    """A CnnlabError when the file's size is not the one the JSON gives (boxes and masks are placed by it)."""
    height, width = image.shape[:2]
    if (width, height) != (info["width"], info["height"]):
        raise CnnlabError(
            f"{path}: the image is {width}x{height}, but {annotations} gives image {info['id']} as "
            f"{info['width']}x{info['height']}; fix width/height in the JSON or replace the image"
        )


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _check_unique_ids(path: Path, entries: list, kind: str) -> None:
    seen: set[int] = set()
    for entry in entries:
        ident = entry.get("id") if isinstance(entry, dict) else None
        if not is_int(ident):
            continue  # the entry's own check names it
        if ident in seen:
            raise CnnlabError(f"{path}: {kind} id {ident} appears twice; give each {kind} its own id")
        seen.add(ident)


def _name(entry: Any, index: int) -> str:
    """An entry's id, or its position when it has none to go by."""
    ident = entry.get("id") if isinstance(entry, dict) else None
    return str(ident) if is_int(ident) else f"#{index} (no id)"


def _kind(value: Any) -> str:
    """What a JSON value is, with its article: "an object", "a list", "null"."""
    if value is None:
        return "null"
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _indexed(content: dict):
    from pycocotools.coco import COCO  # only COCO data pays for pycocotools

    coco = COCO()
    coco.dataset = content
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco
