# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation: ground-truth readers, metrics, the SGBM baseline, reports."""
