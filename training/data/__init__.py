# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Data: bag extraction, rectification, dataset folders, import, synthetic scenes, hints."""
