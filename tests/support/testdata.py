"""Where the shared test images are: ../shared/testdata/images beside the repository.

Looked up in order: $IMS_TESTDATA, the repository's sibling ``shared`` folder,
/work/shared. A clone elsewhere sets IMS_TESTDATA.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _find() -> Path:
    candidates = [os.environ.get("IMS_TESTDATA"), REPO.parent / "shared" / "testdata" / "images",
                  "/work/shared/testdata/images"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "MANIFEST.tsv").is_file():
            return Path(candidate)
    raise RuntimeError("test images not found: set IMS_TESTDATA to shared/testdata/images")


IMAGES = _find()
