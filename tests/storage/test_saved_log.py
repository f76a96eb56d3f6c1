import csv

from PIL import Image

from webui.infotext.png import png_bytes_with_infotext
from webui.storage.saved_log import LOG_FIELDS, save_to_log

INFOTEXT = ("a cat, hat\nNegative prompt: dog\nSteps: 4, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, "
            "Seed: 12, Size: 64x96, Model hash: abcdef0123, Model: anything")


def test_save_copies_the_image_and_appends_a1111_log_rows(tmp_path):
    image = tmp_path / "00001-12.png"
    image.write_bytes(png_bytes_with_infotext(Image.new("RGB", (64, 96)), INFOTEXT))
    first = save_to_log(image, INFOTEXT, tmp_path / "log")
    second = save_to_log(image, INFOTEXT, tmp_path / "log")
    assert first.name == "00001-12.png" and second.name == "00001-12-1.png"
    assert first.read_bytes() == image.read_bytes()
    rows = list(csv.reader((tmp_path / "log" / "log.csv").open(encoding="utf-8")))
    assert tuple(rows[0]) == LOG_FIELDS and len(rows) == 3
    assert rows[1] == ["a cat, hat", "12", "64", "96", "Euler a", "7", "4", "images/00001-12.png", "dog",
                       "anything", "abcdef0123"]
