# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The error that bag reading, offline bag inference and dataset folders share."""


class DatasetError(Exception):
    """Bad input or output for a dataset or bag; the message names the file or topic."""
