import io

from PIL import Image

from webui.infotext.png import EXIF_IFD, USER_COMMENT, image_text_items, png_bytes_with_infotext

TEXT = "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 64x64"


def test_png_parameters_chunk_comes_first():
    png = png_bytes_with_infotext(Image.new("RGB", (8, 8)), TEXT)
    assert image_text_items(Image.open(io.BytesIO(png))) == {"parameters": TEXT}


def test_jpeg_and_webp_user_comment_as_a1111_writes_it():
    for fmt in ("JPEG", "WEBP"):
        exif = Image.Exif()
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"UNICODE\x00" + TEXT.encode("utf_16_be")
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, format=fmt, exif=exif)
        assert image_text_items(Image.open(io.BytesIO(buffer.getvalue()))) == {"parameters": TEXT}, fmt


def test_an_image_without_text_has_no_items():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    assert image_text_items(Image.open(io.BytesIO(buffer.getvalue()))) == {}
