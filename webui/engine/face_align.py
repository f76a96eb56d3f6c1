"""Face alignment and paste-back as A1111's face helper does it (facexlib's `FaceRestoreHelper` with
`face_size=512`, `upscale_factor=1`): five landmarks → a similarity transform onto the 512² template (LMEDS), the
face warped out with a grey border, and the restored face warped back with a mask — the face parser's when its
weights are installed (A1111's `use_parse=True`), else the aligned square eroded and blurred — so the seam does
not show. Only the face's neighbourhood changes; every pixel outside the warped square is the
original's, bit for bit.

Pure numpy/OpenCV on BGR uint8 arrays, like the helper (A1111 flips RGB to BGR before and after).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy

FACE_SIZE = 512
DETECTION_SHORT_SIDE = 640   # A1111 asks the helper to detect on an image scaled up to this short side
EYE_DISTANCE_MIN = 5.0       # faces with eyes closer than this (pixels) are skipped, as A1111 asks
BORDER_BGR = (135, 133, 132)
# Where the eyes, nose and mouth corners sit in a 512² aligned face (facexlib's template for crop ratio 1).
FACE_TEMPLATE = numpy.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                             [201.26117, 371.41043], [313.08905, 371.15118]], dtype=numpy.float32)


@dataclass(frozen=True)
class AlignedFace:
    crop: numpy.ndarray       # BGR uint8 (512, 512, 3)
    affine: numpy.ndarray     # 2×3: image → crop


def detection_scale(height: int, width: int) -> float:
    """The helper's up-scaling before detection (never down)."""
    return max(1.0, DETECTION_SHORT_SIDE / min(height, width))


def usable(landmarks: Sequence[tuple[float, float]]) -> bool:
    left, right = landmarks[0], landmarks[1]
    return float(numpy.hypot(left[0] - right[0], left[1] - right[1])) >= EYE_DISTANCE_MIN


def align_face(bgr: numpy.ndarray, landmarks: Sequence[tuple[float, float]]) -> AlignedFace:
    points = numpy.asarray(landmarks, dtype=numpy.float32).reshape(5, 2)
    affine = cv2.estimateAffinePartial2D(points, FACE_TEMPLATE, method=cv2.LMEDS)[0]
    if affine is None:
        raise ValueError("the five face landmarks do not define a transform (they are degenerate)")
    crop = cv2.warpAffine(bgr, affine, (FACE_SIZE, FACE_SIZE), borderMode=cv2.BORDER_CONSTANT,
                          borderValue=BORDER_BGR)
    return AlignedFace(crop, affine)


def soft_mask(affine: numpy.ndarray, height: int, width: int) -> numpy.ndarray:
    """The face square warped back into the image, eroded by about a tenth of its side and blurred (float 0–1)."""
    inverse = cv2.invertAffineTransform(affine)
    square = numpy.ones((FACE_SIZE, FACE_SIZE), dtype=numpy.float32)
    warped = cv2.warpAffine(square, inverse, (width, height))
    warped = cv2.erode(warped, numpy.ones((2, 2), numpy.uint8))
    edge = int(float(warped.sum()) ** 0.5) // 20
    if edge > 0:
        warped = cv2.erode(warped, numpy.ones((edge * 2, edge * 2), numpy.uint8))
        warped = cv2.GaussianBlur(warped, (edge * 2 + 1, edge * 2 + 1), 0)
    return warped


def paste_face(bgr: numpy.ndarray, restored: numpy.ndarray, affine: numpy.ndarray,
               parsed_mask: numpy.ndarray | None = None) -> numpy.ndarray:
    """`restored` (a 512² BGR face) blended back where `affine` took it from; returns a new uint8 image. With a
    face parser's mask (512², 0–1) the blend follows the face's shape; without one, the eroded, blurred square."""
    height, width = bgr.shape[:2]
    inverse = cv2.invertAffineTransform(affine)
    back = cv2.warpAffine(restored, inverse, (width, height)).astype(numpy.float32)
    if parsed_mask is None:
        mask = soft_mask(affine, height, width)[:, :, None]
    else:
        mask = cv2.warpAffine(parsed_mask, inverse, (width, height), flags=cv2.INTER_AREA)[:, :, None]
    blended = mask * back + (1.0 - mask) * bgr.astype(numpy.float32)
    result = numpy.clip(numpy.rint(blended), 0, 255).astype(numpy.uint8)
    untouched = mask[:, :, 0] == 0
    result[untouched] = bgr[untouched]   # exact outside the face: no float round trip
    return result
