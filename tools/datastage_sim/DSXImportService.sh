#!/usr/bin/env python3
"""SIMULATOR of IBM InfoSphere DataStage `DSXImportService.sh` (sandbox and tests only) - see README.md here."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import dssim  # noqa: E402

if __name__ == "__main__":
    sys.exit(dssim.dsximport_main(sys.argv[1:]))
